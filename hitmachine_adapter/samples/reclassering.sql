-- Sample reclassering case database (synthetic). Loads into SQLite and PostgreSQL.
CREATE TABLE client (
    id INTEGER PRIMARY KEY,
    bsn VARCHAR(9),
    achternaam VARCHAR(200) NOT NULL,
    tussenvoegsel VARCHAR(20),
    voornamen VARCHAR(200),
    geboortedatum DATE,
    woonplaats VARCHAR(100)
);
CREATE TABLE toezicht (
    id INTEGER PRIMARY KEY,
    client_id INTEGER NOT NULL REFERENCES client (id),
    soort VARCHAR(40) NOT NULL,
    startdatum DATE NOT NULL,
    einddatum DATE
);
INSERT INTO client VALUES (1, '446338497', 'Smit', NULL, 'Finn', '2005-11-20', 'Wijchen');
INSERT INTO toezicht VALUES (1, 1, 'Reclasseringstoezicht', '2023-03-25', NULL);
INSERT INTO client VALUES (2, '357670498', 'Bouzidi', NULL, 'Lotte Maria', '1969-06-09', 'Wijchen');
INSERT INTO toezicht VALUES (2, 2, 'Werkstraf', '2023-11-21', NULL);
INSERT INTO client VALUES (3, NULL, 'Lefèvre', NULL, 'Jayden', '1993-07-28', 'Beuningen');
INSERT INTO toezicht VALUES (3, 3, 'ISD-nazorg', '2024-08-22', NULL);
INSERT INTO client VALUES (4, '197293013', 'Pinas', NULL, 'Emir', '1979-09-18', 'Wijchen');
INSERT INTO toezicht VALUES (4, 4, 'Werkstraf', '2024-03-02', NULL);
INSERT INTO toezicht VALUES (5, 4, 'ISD-nazorg', '2024-02-19', '2025-01-21');
INSERT INTO client VALUES (5, '813586550', 'Peters', NULL, 'Lucas', '1958-08-17', 'Nijmegen');
INSERT INTO toezicht VALUES (6, 5, 'Voorwaardelijke invrijheidstelling', '2025-05-16', NULL);
INSERT INTO client VALUES (6, '602574353', 'Kaya', NULL, 'Bram Willem', '1991-05-27', 'Nijmegen');
INSERT INTO toezicht VALUES (7, 6, 'Voorwaardelijke invrijheidstelling', '2023-01-26', NULL);
INSERT INTO client VALUES (7, NULL, 'Yılmaz', NULL, 'Lucas', '1960-11-08', 'Beuningen');
INSERT INTO toezicht VALUES (8, 7, 'ISD-nazorg', '2023-12-31', NULL);
INSERT INTO client VALUES (8, NULL, 'El Amrani', NULL, 'Emir', '1965-11-20', 'Beuningen');
INSERT INTO toezicht VALUES (9, 8, 'ISD-nazorg', '2024-10-11', NULL);
INSERT INTO client VALUES (9, NULL, 'Boer', 'de', 'Milan', NULL, 'Wijchen');
INSERT INTO toezicht VALUES (10, 9, 'Werkstraf', '2024-04-29', NULL);
INSERT INTO client VALUES (10, '814074297', 'Kaya', NULL, 'Kevin Johannes', '1988-07-23', 'Nijmegen');
INSERT INTO toezicht VALUES (11, 10, 'Voorwaardelijke invrijheidstelling', '2023-07-27', '2023-10-11');
INSERT INTO toezicht VALUES (12, 10, 'Voorwaardelijke invrijheidstelling', '2024-05-03', NULL);
INSERT INTO client VALUES (11, '930270575', 'Jansen', NULL, 'Bram Willem', '1985-06-18', 'Beuningen');
INSERT INTO toezicht VALUES (13, 11, 'ISD-nazorg', '2023-01-09', NULL);
INSERT INTO toezicht VALUES (14, 11, 'Werkstraf', '2025-03-24', NULL);
INSERT INTO client VALUES (12, '828374788', 'Visser', NULL, 'Kevin Johannes', '2005-06-15', 'Beuningen');
INSERT INTO toezicht VALUES (15, 12, 'Voorwaardelijke invrijheidstelling', '2024-02-08', NULL);
INSERT INTO client VALUES (13, '006739209', 'Müller', NULL, 'Zoë', '1976-01-29', 'Nijmegen');
INSERT INTO toezicht VALUES (16, 13, 'ISD-nazorg', '2023-11-20', NULL);
INSERT INTO client VALUES (14, '432784871', 'Wit', 'de', 'Levi', '1998-05-24', 'Nijmegen');
INSERT INTO toezicht VALUES (17, 14, 'Voorwaardelijke invrijheidstelling', '2024-10-06', NULL);
INSERT INTO client VALUES (15, NULL, 'Müller', NULL, 'Noor', '1973-09-24', 'Beuningen');
INSERT INTO toezicht VALUES (18, 15, 'ISD-nazorg', '2025-06-12', NULL);
INSERT INTO toezicht VALUES (19, 15, 'Werkstraf', '2024-07-16', NULL);
INSERT INTO client VALUES (16, '842480456', 'Kowalski', NULL, 'Chantal', '1985-10-21', 'Beuningen');
INSERT INTO toezicht VALUES (20, 16, 'ISD-nazorg', '2024-12-27', NULL);
INSERT INTO client VALUES (17, '399727462', 'Vries', 'de', 'Lucas', '1986-05-27', 'Nijmegen');
INSERT INTO toezicht VALUES (21, 17, 'Voorwaardelijke invrijheidstelling', '2024-12-07', NULL);
INSERT INTO toezicht VALUES (22, 17, 'ISD-nazorg', '2023-11-27', NULL);
INSERT INTO client VALUES (18, NULL, 'Aydın', NULL, 'Yasmin', '1998-03-10', 'Beuningen');
INSERT INTO toezicht VALUES (23, 18, 'Werkstraf', '2023-05-03', NULL);
INSERT INTO toezicht VALUES (24, 18, 'ISD-nazorg', '2023-01-13', NULL);
INSERT INTO client VALUES (19, NULL, 'Kaya', NULL, 'Zoë', '1972-06-01', 'Beuningen');
INSERT INTO toezicht VALUES (25, 19, 'Werkstraf', '2024-03-27', NULL);
INSERT INTO client VALUES (20, '010666680', 'Müller', NULL, 'Jayden', '1998-09-11', 'Wijchen');
INSERT INTO toezicht VALUES (26, 20, 'Voorwaardelijke invrijheidstelling', '2023-05-10', NULL);
INSERT INTO toezicht VALUES (27, 20, 'Voorwaardelijke invrijheidstelling', '2024-08-13', NULL);
INSERT INTO client VALUES (21, '317513783', 'Öztürk', NULL, 'Noah', '1999-02-09', 'Wijchen');
INSERT INTO toezicht VALUES (28, 21, 'ISD-nazorg', '2024-10-10', NULL);
INSERT INTO client VALUES (22, NULL, 'Peters', NULL, 'Daan', '1965-02-09', 'Beuningen');
INSERT INTO toezicht VALUES (29, 22, 'Werkstraf', '2025-03-19', NULL);
INSERT INTO toezicht VALUES (30, 22, 'ISD-nazorg', '2025-02-24', '2025-09-22');
INSERT INTO client VALUES (23, '473598346', 'Bouzidi', NULL, 'Saar', '1961-01-30', 'Nijmegen');
INSERT INTO toezicht VALUES (31, 23, 'Reclasseringstoezicht', '2023-08-17', '2023-11-17');
INSERT INTO client VALUES (24, '145747955', 'Nowak', NULL, 'Naomi', '1993-07-21', 'Nijmegen');
INSERT INTO toezicht VALUES (32, 24, 'Reclasseringstoezicht', '2023-12-10', '2024-10-23');
INSERT INTO client VALUES (25, '126980809', 'Berg', 'van den', 'Lucas', '1976-10-02', 'Wijchen');
INSERT INTO toezicht VALUES (33, 25, 'ISD-nazorg', '2024-08-28', '2025-03-14');
INSERT INTO toezicht VALUES (34, 25, 'Werkstraf', '2023-06-19', '2023-10-14');
INSERT INTO client VALUES (26, NULL, 'Linden', 'van der', 'Mohamed', '1986-12-26', 'Nijmegen');
INSERT INTO toezicht VALUES (35, 26, 'ISD-nazorg', '2023-02-07', NULL);
INSERT INTO toezicht VALUES (36, 26, 'Voorwaardelijke invrijheidstelling', '2024-03-14', NULL);
INSERT INTO client VALUES (27, '679163578', 'Wit', 'de', 'Levi', '1961-01-19', 'Wijchen');
INSERT INTO toezicht VALUES (37, 27, 'Werkstraf', '2023-01-10', NULL);
INSERT INTO client VALUES (28, '129612674', 'Kowalski', NULL, 'Bram Willem', '1980-07-14', 'Beuningen');
INSERT INTO toezicht VALUES (38, 28, 'Reclasseringstoezicht', '2024-09-09', NULL);
INSERT INTO client VALUES (29, '435403928', 'Martina', NULL, 'Emir', '1960-01-19', 'Nijmegen');
INSERT INTO toezicht VALUES (39, 29, 'Werkstraf', '2025-02-26', NULL);
INSERT INTO client VALUES (30, '485231876', 'Leeuwen', 'van', 'Sanne', '1983-02-21', 'Beuningen');
INSERT INTO toezicht VALUES (40, 30, 'Voorwaardelijke invrijheidstelling', '2023-11-12', NULL);
INSERT INTO client VALUES (31, NULL, 'Çelik', NULL, 'Julia', '1961-09-20', 'Wijchen');
INSERT INTO toezicht VALUES (41, 31, 'ISD-nazorg', '2023-07-19', '2023-10-01');
INSERT INTO toezicht VALUES (42, 31, 'Voorwaardelijke invrijheidstelling', '2024-11-01', NULL);
INSERT INTO client VALUES (32, NULL, 'Dijk', 'van', 'Saar', '1978-06-09', 'Nijmegen');
INSERT INTO toezicht VALUES (43, 32, 'Voorwaardelijke invrijheidstelling', '2024-05-19', NULL);
INSERT INTO client VALUES (33, '642503345', 'Jansen', NULL, 'Lotte Maria', '1997-06-25', 'Beuningen');
INSERT INTO toezicht VALUES (44, 33, 'Reclasseringstoezicht', '2023-01-31', NULL);
INSERT INTO client VALUES (34, '742448940', 'Peters', NULL, 'Sem', '1960-06-19', 'Nijmegen');
INSERT INTO toezicht VALUES (45, 34, 'Werkstraf', '2025-05-11', NULL);
INSERT INTO toezicht VALUES (46, 34, 'Reclasseringstoezicht', '2024-07-13', NULL);
INSERT INTO client VALUES (35, NULL, 'Bouzidi', NULL, 'Jayden', '1968-04-17', 'Wijchen');
INSERT INTO toezicht VALUES (47, 35, 'Reclasseringstoezicht', '2023-04-19', NULL);
INSERT INTO toezicht VALUES (48, 35, 'Werkstraf', '2023-06-04', '2023-11-05');
INSERT INTO client VALUES (36, NULL, 'Çelik', NULL, 'Finn', '1974-12-21', 'Nijmegen');
INSERT INTO toezicht VALUES (49, 36, 'ISD-nazorg', '2023-10-09', NULL);
INSERT INTO client VALUES (37, '892060578', 'Linden', 'van der', 'Levi', '1981-01-07', 'Beuningen');
INSERT INTO toezicht VALUES (50, 37, 'Reclasseringstoezicht', '2023-10-21', NULL);
INSERT INTO client VALUES (38, NULL, 'Leeuwen', 'van', 'Mohamed', '1984-05-10', 'Nijmegen');
INSERT INTO toezicht VALUES (51, 38, 'Voorwaardelijke invrijheidstelling', '2025-05-05', '2026-06-05');
INSERT INTO toezicht VALUES (52, 38, 'Voorwaardelijke invrijheidstelling', '2023-08-08', '2024-06-16');
INSERT INTO client VALUES (39, '024532150', 'Lefèvre', NULL, 'Ryan', '1992-07-11', 'Nijmegen');
INSERT INTO toezicht VALUES (53, 39, 'Werkstraf', '2024-09-25', NULL);
INSERT INTO toezicht VALUES (54, 39, 'Werkstraf', '2024-06-27', NULL);
INSERT INTO client VALUES (40, NULL, 'Kowalski', NULL, 'Ryan', '1972-03-26', 'Wijchen');
INSERT INTO toezicht VALUES (55, 40, 'ISD-nazorg', '2023-04-25', NULL);
INSERT INTO toezicht VALUES (56, 40, 'ISD-nazorg', '2024-11-19', NULL);
INSERT INTO client VALUES (41, NULL, 'Linden', 'van der', 'Emma', '1971-05-02', 'Nijmegen');
INSERT INTO toezicht VALUES (57, 41, 'Voorwaardelijke invrijheidstelling', '2023-12-01', NULL);
INSERT INTO toezicht VALUES (58, 41, 'Reclasseringstoezicht', '2024-09-20', NULL);
INSERT INTO client VALUES (42, '995019186', 'Kaya', NULL, 'Emma', '1971-04-28', 'Wijchen');
INSERT INTO toezicht VALUES (59, 42, 'Reclasseringstoezicht', '2023-05-13', '2024-03-01');
