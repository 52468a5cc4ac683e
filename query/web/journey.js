// Placeholder until the page is written.
export function render(root) {
  root.textContent = "journey";
}
