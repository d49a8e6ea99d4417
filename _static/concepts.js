/* Concept questions (book/concepts.md, rendered by course_book/concepts.py).
 *
 * Each option is a <button class="concept-option" data-correct="true|false"> whose
 * aria-controls names its explanation (hidden until picked). Picking an option shows its
 * explanation and marks it right (concept-right) or wrong (concept-wrong); a right pick also
 * marks the question answered. Nothing is stored or sent: reload the page to start again.
 * Jupyter Book adds this file to every page; it acts only on concept questions.
 */
(function () {
  "use strict";
  if (window.conceptQuestionsReady) {
    return; // loaded twice: one listener is enough
  }
  window.conceptQuestionsReady = true;

  function choose(button) {
    var question = button.closest(".concept-question");
    if (!question) {
      return;
    }
    var right = button.getAttribute("data-correct") === "true";
    var letter = button.getAttribute("data-letter");
    button.classList.add(right ? "concept-right" : "concept-wrong");
    button.setAttribute("aria-expanded", "true");
    var why = document.getElementById(button.getAttribute("aria-controls"));
    if (why) {
      why.hidden = false;
    }
    var verdict = question.querySelector(".concept-verdict");
    if (right) {
      question.classList.add("concept-answered");
      verdict.textContent = letter + " is right. Pick the other options to read why they are not.";
    } else if (!question.classList.contains("concept-answered")) {
      verdict.textContent = letter + " is not right: read why, then try another option.";
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest(".concept-option") : null;
    if (button) {
      choose(button);
    }
  });
})();
