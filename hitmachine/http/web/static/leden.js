/* Hitmachine: add and remove household members without a round trip.
   Without JavaScript the same buttons post the form to /zoeken, which adds or removes the
   member and shows the form again. */
(function () {
  "use strict";

  var list = document.getElementById("leden");
  var template = document.getElementById("lid-sjabloon");
  var addButton = document.getElementById("lid-toevoegen");
  var status = document.getElementById("leden-melding");
  if (!list || !template || !addButton || !("content" in template)) {
    return;
  }
  var max = parseInt(list.getAttribute("data-max"), 10) || 20;
  var NUMBERED = /lid-(\d+|__i__)-/g;

  function members() {
    return Array.prototype.slice.call(list.querySelectorAll("[data-lid]"));
  }

  function renumber() {
    var all = members();
    all.forEach(function (fieldset, index) {
      fieldset.id = "lid-" + index;
      Array.prototype.forEach.call(fieldset.querySelectorAll("*"), function (element) {
        ["id", "for", "name", "aria-describedby"].forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value) {
            element.setAttribute(attribute, value.replace(NUMBERED, "lid-" + index + "-"));
          }
        });
      });
      Array.prototype.forEach.call(fieldset.querySelectorAll("[data-nummer]"), function (span) {
        span.textContent = String(index + 1);
      });
      var remove = fieldset.querySelector("[data-verwijder]");
      if (remove) {
        remove.value = "verwijder-" + index;
        remove.hidden = all.length < 2;
      }
    });
    addButton.disabled = all.length >= max;
  }

  function announce(text) {
    if (status) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 50);
    }
  }

  function firstInput(fieldset) {
    return fieldset ? fieldset.querySelector("input") : null;
  }

  addButton.addEventListener("click", function (event) {
    event.preventDefault();
    if (members().length >= max) {
      return;
    }
    var fieldset = template.content.firstElementChild.cloneNode(true);
    list.appendChild(fieldset);
    renumber();
    var count = members().length;
    firstInput(fieldset).focus();
    announce("Persoon " + count + " toegevoegd.");
  });

  list.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-verwijder]") : null;
    if (!button) {
      return;
    }
    event.preventDefault();
    var all = members();
    var fieldset = button.closest("[data-lid]");
    var index = all.indexOf(fieldset);
    if (index < 0 || all.length < 2) {
      return;
    }
    fieldset.parentNode.removeChild(fieldset);
    renumber();
    var rest = members();
    var next = firstInput(rest[Math.min(index, rest.length - 1)]);
    (next || addButton).focus();
    announce("Persoon " + (index + 1) + " verwijderd.");
  });

  renumber();
})();
