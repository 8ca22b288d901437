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

  // "Copy" on an answer puts the answer and its quoted sources, as Markdown, on the clipboard.
  const fallbackCopy = (text) => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  };
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button.qa-copy");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    const source = button.parentElement && button.parentElement.querySelector(".qa-md");
    const text = source ? source.textContent : "";
    if (!text) { button.textContent = "Nothing to copy"; return; }
    const copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text).catch(() => fallbackCopy(text))
      : fallbackCopy(text);
    copy.then(
      () => { button.textContent = "Copied"; },
      () => { button.textContent = "Copy failed: select the text instead"; },
    ).finally(() => setTimeout(() => { button.textContent = "Copy"; }, 2000));
  }, true);
}
