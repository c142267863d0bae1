// The report editor: autosave with the draft's revision, macro expansion, AI-draft review.
// The form works without this script (Save / Sign post it); this adds what a radiologist
// expects from a dictation screen: nothing lost if the tab closes, codes that expand as typed.
(function () {
  "use strict";
  const editor = document.getElementById("report-editor");
  if (!editor) return;
  const form = document.getElementById("report-form");
  const status = document.getElementById("autosave-status");
  const revision = document.getElementById("revision");
  const api = editor.dataset.api;
  const macros = JSON.parse(document.getElementById("macros-data").textContent || "{}");
  const csrf = (document.cookie.split("; ").find(c => c.startsWith("csrftoken=")) || "=").split("=")[1];
  // What the status line says, in the reader's language: the editor's template fills the
  // data-*-text attributes; "{revision}" and "{reason}" stand for the values.
  const say = editor.dataset;
  let dirty = false, saving = null, stale = false, submitting = false;

  function show(text, kind) { status.textContent = text; status.className = "autosave " + (kind || "muted"); }

  function payload() {
    const body = {revision: Number(revision.value)};
    if (form.elements.language) body.language = form.elements.language.value;
    for (const name of ["technique", "comparison", "findings", "impression"]) {
      body[name] = form.elements[name].value;
    }
    body.critical_findings = [];
    for (const row of form.querySelectorAll(".critical-row")) {
      const [finding, category] = row.querySelectorAll("input, select");
      if (finding.value.trim()) body.critical_findings.push({finding: finding.value.trim(), category: category.value});
    }
    const review = {};
    for (const select of form.querySelectorAll("select.ai-review")) {
      review[select.closest(".ai-sentence").dataset.finding] = select.value;
    }
    if (Object.keys(review).length) body.ai_review = review;
    return body;
  }

  function save() {
    if (!dirty || saving || stale || submitting) return saving;
    saving = send().finally(() => { saving = null; });
    return saving;
  }

  async function send() {
    dirty = false;
    show(say.savingText);
    try {
      const response = await fetch(api, {
        method: "PATCH", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"},
        body: JSON.stringify(payload()),
      });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        revision.value = data.revision;
        // Typed while this save was on its way: not saved yet, and the status says so.
        if (dirty) show(say.unsavedText);
        else show(say.savedText.replace("{revision}", data.revision));
      } else if (response.status === 409) {
        // Another tab or device saved a newer revision: never overwrite it from here.
        stale = true;
        show((data.detail || say.staleText) + " " + say.reloadText, "error");
      } else {
        dirty = true;
        show(say.failedText.replace("{reason}", data.detail || response.statusText), "error");
      }
    } catch (err) {
      dirty = true;
      show(say.offlineText, "error");
    }
  }

  // Macros: ".nml" followed by a space or a new line becomes its text.
  function expand(area) {
    const caret = area.selectionStart;
    const before = area.value.slice(0, caret);
    const match = before.match(/(^|\s)(\.[\w-]+)(\s)$/);
    if (!match || !(match[2] in macros)) return;
    const start = caret - match[2].length - match[3].length;
    area.value = area.value.slice(0, start) + macros[match[2]] + match[3] + area.value.slice(caret);
    const position = start + macros[match[2]].length + match[3].length;
    area.setSelectionRange(position, position);
  }

  // The signing password and the answers to the critical-finding check go with the signature
  // only: typing them saves nothing.
  function signingOnly(field) { return field.name === "password" || field.name.startsWith("check_"); }
  form.addEventListener("input", event => {
    if (signingOnly(event.target)) return;
    if (event.target.tagName === "TEXTAREA") expand(event.target);
    dirty = true;
    show(say.unsavedText);
  });
  form.addEventListener("change", event => {
    if (signingOnly(event.target)) return;
    const select = event.target.closest("select.ai-review");
    if (select) {
      const item = select.closest(".ai-sentence");
      item.className = "ai-sentence " + select.value;
      // Rejecting an AI sentence takes it out of the findings.
      if (select.value === "rejected") {
        const area = form.elements.findings;
        area.value = area.value.replace(item.dataset.sentence + "\n", "").replace(item.dataset.sentence, "");
      }
    }
    dirty = true;
    // Another report language: saved at once, then the page again, with that language's
    // macros (the page holds one language's).
    if (event.target.name === "language") save().then(() => { if (!stale) window.location.reload(); });
  });
  form.addEventListener("submit", event => {
    // The form posts the revision it holds: an autosave still on its way would make that
    // revision stale and the signature fail, so the post waits for it.
    if (saving) {
      event.preventDefault();
      const submitter = event.submitter;
      saving.then(() => form.requestSubmit(submitter));
      return;
    }
    dirty = false;
    submitting = true;
  });
  // -- the keyboard: the AI's sentences and signing (shortcuts.js lists them in its help) ----
  const sentences = () => Array.from(form.querySelectorAll(".ai-sentence"));
  let current = null;  // the AI sentence the reader last moved to

  function choose(item, move) {
    current = item;
    for (const other of sentences()) other.classList.toggle("focused", other === item);
    if (move) item.focus();
  }
  // The focused sentence, else the first still waiting for a review.
  function target() { return current || sentences().find(i => i.classList.contains("pending")) || sentences()[0]; }
  function review(value) {
    const item = target();
    if (!item) return;
    const select = item.querySelector("select.ai-review");
    select.value = value;
    select.dispatchEvent(new Event("change", {bubbles: true}));
    choose(item, false);
  }
  function step(by) {
    const all = sentences();
    if (!all.length) return;
    const at = all.indexOf(target());
    choose(all[(at + by + all.length) % all.length], true);
  }
  for (const item of sentences()) item.addEventListener("focusin", () => choose(item, false));

  // Ctrl+Enter signs: with the password typed it signs at once; without, it goes to the
  // password field, and Enter there then signs (plain Enter there otherwise saves the draft).
  const password = form.elements.password;
  const hint = document.getElementById("sign-hint");
  let armed = null;
  function sign(buttonId) {
    const button = document.getElementById(buttonId);
    if (!password.value) {
      armed = button;
      password.focus();
      hint.textContent = hint.dataset.armedText;
      return;
    }
    form.requestSubmit(button);
  }
  password.addEventListener("keydown", event => {
    if (event.key === "Enter" && armed && !(event.ctrlKey || event.metaKey || event.altKey)) {
      event.preventDefault();
      form.requestSubmit(armed);
    }
  });

  const keys = window.readingShortcuts;
  if (keys) {
    const labels = JSON.parse(document.getElementById("editor-shortcuts").textContent || "{}");
    keys.register({keys: "alt+a", label: labels.accept, run: () => review("accepted")});
    keys.register({keys: "alt+r", label: labels.reject, run: () => review("rejected")});
    keys.register({keys: "alt+j", label: labels.next_sentence, run: () => step(1)});
    keys.register({keys: "alt+k", label: labels.previous_sentence, run: () => step(-1)});
    keys.register({keys: "ctrl+s", label: labels.save, run: () => form.requestSubmit(form.querySelector("button[name=then][value='']"))});
    keys.register({keys: "ctrl+enter", label: labels.sign, run: () => sign("sign-final")});
    keys.register({keys: "ctrl+shift+enter", label: labels.sign_next, run: () => sign("sign-next")});
  }

  setInterval(save, 3000);
  window.addEventListener("beforeunload", event => { if (dirty && !stale) { save(); event.preventDefault(); } });
})();
