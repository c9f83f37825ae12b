// Opened from a file (file://), the browser refuses the search its worker and its index, and the theme then hides
// the search box without a word: say, at the top of the page, that search needs the site served, and how.
if (location.protocol === "file:") {
  document.addEventListener("DOMContentLoaded", () => {
    const content = document.querySelector(".md-content__inner");
    if (!content) return;
    const note = document.createElement("p");
    note.className = "search-needs-a-server";
    note.textContent = "Read from files, these pages have no search: a browser runs none from file://. To search, " +
      "serve the site (in the clone: python -m http.server -d site) and open http://localhost:8000.";
    content.prepend(note);
  });
}
