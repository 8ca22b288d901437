() => {
  // A click on [n] in an answer opens source n (and its turn, if folded) and scrolls to it.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.qa-cite");
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    for (let el = target; el; el = el.parentElement) if (el.tagName === "DETAILS") el.open = true;
    target.scrollIntoView({behavior: "smooth", block: "center"});
    target.classList.remove("qa-flash");
    void target.offsetWidth;
    target.classList.add("qa-flash");
  }, true);
}
