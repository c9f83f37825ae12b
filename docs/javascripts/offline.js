// Opened from a file (file://), the browser refuses the search its worker and its index, and the theme would show
// "Initializing search" for ever: say instead, where the reader looks, that search needs the site served.
if (location.protocol === "file:") {
  const message = "Search needs the site served: in the clone, python -m http.server -d site, then open " +
    "http://localhost:8000. Every page reads from files as they are.";
  const say = () => {
    document.body.classList.add("search-needs-a-server");
    for (const input of document.querySelectorAll("[data-md-component=search-query]")) {
      input.placeholder = "Search (needs a server)";
      input.title = message;
    }
    for (const meta of document.querySelectorAll(".md-search-result__meta")) {
      meta.textContent = message;
    }
  };
  document.addEventListener("DOMContentLoaded", say);
  // the theme writes its own text into the result area when search opens: ours goes back on top of it
  document.addEventListener("focusin", (event) => {
    if (event.target.matches("[data-md-component=search-query]")) setTimeout(say, 50);
  });
}
