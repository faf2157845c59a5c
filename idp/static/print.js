// "Imprimer": the page with a child's new temporary password is made to be printed.
(function () {
  "use strict";
  var button = document.getElementById("imprimer");
  if (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  }
})();
