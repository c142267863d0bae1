// Keyboard shortcuts for reading, and the help that lists them ("?" or the header's button).
//
// A page declares a shortcut on the element it activates: data-shortcut="alt+n" (modifiers
// ctrl, alt, shift, then a letter, a digit, "enter" or "/") and data-shortcut-label="Next case";
// pressing it clicks the element when it is on the page and enabled. Scripts with more to do
// (the report editor) register their own: readingShortcuts.register({keys, label, run}).
// Shortcuts with a modifier work while typing in the report; plain keys ("?") only outside
// text fields, so that dictation is never taken for a command.
(function () {
  "use strict";
  const registered = [];

  function parse(keys) {
    const parts = keys.toLowerCase().split("+");
    const key = parts.pop();
    return {ctrl: parts.includes("ctrl"), alt: parts.includes("alt"), shift: parts.includes("shift"), key: key};
  }

  // The key pressed, by its place on the keyboard (Alt+N on a Mac types "˜", but is KeyN).
  function keyOf(event) {
    if (event.code && event.code.startsWith("Key")) return event.code.slice(3).toLowerCase();
    if (event.code && event.code.startsWith("Digit")) return event.code.slice(5);
    if (event.key === "Enter") return "enter";
    if (event.code === "Slash") return "/";
    return (event.key || "").toLowerCase();
  }

  function matches(shortcut, event) {
    const want = parse(shortcut);
    return want.key === keyOf(event) && want.ctrl === (event.ctrlKey || event.metaKey) &&
      want.alt === event.altKey && want.shift === event.shiftKey;
  }

  function typing(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function label(keys) {
    return keys.split("+").map(k => ({ctrl: "Ctrl", alt: "Alt", shift: "Shift", enter: "Enter"}[k] || k.toUpperCase())).join("+");
  }

  function declared() {
    const found = [];
    for (const element of document.querySelectorAll("[data-shortcut]")) {
      found.push({keys: element.dataset.shortcut, label: element.dataset.shortcutLabel || element.textContent.trim(), element: element});
    }
    return found;
  }

  function all() { return [...declared(), ...registered]; }

  function usable(element) {
    return element && element.isConnected && !element.disabled && element.getClientRects().length > 0;
  }

  function showHelp() {
    const dialog = document.getElementById("shortcut-help");
    if (!dialog) return;
    const list = dialog.querySelector("dl");
    list.textContent = "";
    const seen = new Set();
    for (const item of all()) {
      if (seen.has(item.keys) || (item.element && !usable(item.element))) continue;
      seen.add(item.keys);
      const term = document.createElement("dt");
      const kbd = document.createElement("kbd");
      kbd.textContent = label(item.keys);
      term.appendChild(kbd);
      const description = document.createElement("dd");
      description.textContent = item.label;
      list.append(term, description);
    }
    const help = document.createElement("dt");
    help.innerHTML = "<kbd>?</kbd>";
    const helpText = document.createElement("dd");
    helpText.textContent = dialog.dataset.helpLabel;  // base.html gives it, translated
    list.append(help, helpText);
    if (!dialog.open) dialog.showModal();
  }

  document.addEventListener("keydown", event => {
    if (event.defaultPrevented) return;
    const plain = !(event.ctrlKey || event.metaKey || event.altKey);
    if (event.key === "?" && !typing(event.target)) {
      event.preventDefault();
      showHelp();
      return;
    }
    for (const item of all()) {
      if (!matches(item.keys, event)) continue;
      if (plain && typing(event.target)) continue;
      if (item.element && !usable(item.element)) continue;
      event.preventDefault();
      if (item.run) item.run(event);
      else item.element.click();
      return;
    }
  });

  document.addEventListener("click", event => {
    if (event.target.closest("[data-shortcut-help]")) showHelp();
  });

  window.readingShortcuts = {
    register(item) { registered.push(item); },
    showHelp: showHelp,
  };
  // The language menu: choosing is enough (its button stays for a browser without scripts).
  for (const menu of document.querySelectorAll("form.language-menu select")) {
    menu.addEventListener("change", () => menu.form.submit());
  }
})();
