// One tooltip for the page: any element with `data-tip` (text, lines split by "\n") shows it on
// hover and on keyboard focus, next to the pointer or the element.

import { h } from "./dom.js";

/** Shows `data-tip` texts of elements inside `root`; returns a function that removes the tooltip. */
export function installTooltip(root) {
  const tip = h("div", { class: "an-tip", role: "tooltip", hidden: true });
  document.body.append(tip);
  let current = null;

  const place = (x, y) => {
    const { innerWidth, innerHeight } = window;
    const box = tip.getBoundingClientRect();
    const left = Math.min(x + 14, innerWidth - box.width - 8);
    const top = y + 16 + box.height > innerHeight ? y - box.height - 12 : y + 16;
    tip.style.left = `${Math.max(4, left)}px`;
    tip.style.top = `${Math.max(4, top)}px`;
  };
  const show = (target, x, y) => {
    current = target;
    tip.textContent = target.dataset.tip;
    tip.hidden = false;
    place(x, y);
  };
  const hide = () => { current = null; tip.hidden = true; };

  const over = (event) => {
    const target = event.target.closest && event.target.closest("[data-tip]");
    if (target && root.contains(target)) show(target, event.clientX, event.clientY);
    else if (current) hide();
  };
  const move = (event) => { if (current) place(event.clientX, event.clientY); };
  const focus = (event) => {
    const target = event.target.closest && event.target.closest("[data-tip]");
    if (!target) { hide(); return; }
    const box = target.getBoundingClientRect();
    show(target, box.left + box.width / 2, box.top + box.height / 2);
  };
  root.addEventListener("pointerover", over);
  root.addEventListener("pointermove", move);
  root.addEventListener("pointerleave", hide);
  root.addEventListener("focusin", focus);
  root.addEventListener("focusout", hide);
  const escape = (event) => { if (event.key === "Escape") hide(); };
  document.addEventListener("keydown", escape);
  return () => {
    root.removeEventListener("pointerover", over);
    root.removeEventListener("pointermove", move);
    root.removeEventListener("pointerleave", hide);
    root.removeEventListener("focusin", focus);
    root.removeEventListener("focusout", hide);
    document.removeEventListener("keydown", escape);
    tip.remove();
  };
}
