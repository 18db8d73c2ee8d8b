/* Hitmachine: small enhancements. Every page works without this file. */
(function () {
  "use strict";

  // Start keyboard and screen-reader users at the error summary when there is one.
  var summary = document.getElementById("foutsamenvatting");
  if (summary) {
    summary.focus();
  }

  // A link in the error summary puts focus in its field; a plain fragment link only
  // scrolls. The field's label or legend is scrolled into view with it.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest(".foutsamenvatting a[href^='#']") : null;
    if (!link) {
      return;
    }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) {
      return;
    }
    event.preventDefault();
    var around = field.closest(".veld, fieldset") || field;
    around.scrollIntoView({ block: "start" });
    field.focus({ preventScroll: true });
  });

  // Print buttons are hidden without JavaScript (the browser's own print command works).
  Array.prototype.forEach.call(document.querySelectorAll("[data-afdrukken]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
