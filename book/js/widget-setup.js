// Set-up for the embedded widgets of a page: loaded after require.js and before embed-amd.js.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");

  // 1. Load the widget modules, and the fonts their styles refer to, from the folder of this script.
  //    embed-amd.js derives each module's base URL from its RequireJS module URL; without these paths
  //    the fonts would be requested relative to the page, and fail.
  require.config({
    paths: {
      "@jupyter-widgets/base": here + "base",
      "@jupyter-widgets/controls": here + "controls",
      "@jupyter-widgets/html-manager": here + "html-manager",
      "@jupyter-widgets/html-manager/dist/libembed-amd": here + "libembed-amd"
    }
  });

  // 2. The widget manager typesets the text of widgets with MathJax 2's API (MathJax.Hub.Queue), and the
  //    site runs MathJax 3 (loaded with "defer", so it is there when the DOM is ready, before the widgets
  //    render on "load"). Translate the one call it makes.
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (mathjax && !mathjax.Hub) {
      mathjax.Hub = {
        Queue: function (job) {
          if (mathjax.startup && mathjax.typesetPromise) {
            mathjax.startup.promise.then(function () { return mathjax.typesetPromise([job[2]]); });
          }
        }
      };
    }
  });
})();
