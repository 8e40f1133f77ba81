// The township list follows the chosen banner/district: only that district's group of
// townships stays choosable, and a township of another district is unselected.
(function () {
  "use strict";
  var district = document.getElementById("district"), township = document.getElementById("township");
  if (!district || !township) { return; }
  function follow() {
    var code = district.value;
    township.querySelectorAll("optgroup[data-district]").forEach(function (g) {
      var on = code === "" || g.getAttribute("data-district") === code;
      g.hidden = !on;
      g.disabled = !on;
    });
    var chosen = township.options[township.selectedIndex];
    if (chosen && chosen.parentNode.disabled) { township.value = ""; }
  }
  district.addEventListener("change", follow);
  follow();
})();
