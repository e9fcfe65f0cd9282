/* Models page: the create form follows the chosen parent's defaults (what the API would pick). */
(function () {
  "use strict";
  const FIELDS = ["rank", "alpha", "dropout", "learning_rate", "target_modules"];

  function follow(select) {
    const option = select.selectedOptions[0];
    if (!option) return;
    const form = select.form;
    FIELDS.forEach(function (name) {
      const field = form.elements[name];
      const value = option.getAttribute("data-" + name);
      if (field && value !== null) field.value = value;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-parent-select]")) follow(event.target);
    if (event.target.matches("[data-create-model] [name=rank]")) {
      /* alpha defaults to 2 x rank: keep it so while the user has not chosen another alpha */
      const form = event.target.form;
      const rank = Number(event.target.value);
      const alpha = form.elements.alpha;
      /* only for a valid rank (1-256, the API's range): an out-of-range rank is the rank's error, not alpha's */
      const valid = Number.isInteger(rank) && rank >= 1 && rank <= 256;
      if (valid && alpha.dataset.touched !== "yes") alpha.value = String(2 * rank);
    }
    if (event.target.matches("[data-create-model] [name=alpha]")) event.target.dataset.touched = "yes";
  });
})();
