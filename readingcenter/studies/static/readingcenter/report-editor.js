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
  let dirty = false, saving = null, stale = false, submitting = false;

  function show(text, kind) { status.textContent = text; status.className = "autosave " + (kind || "muted"); }

  function payload() {
    const body = {revision: Number(revision.value)};
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
    show("saving…");
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
        if (dirty) show("unsaved changes");
        else show("saved · revision " + data.revision + " · " + new Date().toLocaleTimeString());
      } else if (response.status === 409) {
        // Another tab or device saved a newer revision: never overwrite it from here.
        stale = true;
        show((data.detail || "Saved elsewhere.") + " Reload the page to continue.", "error");
      } else {
        dirty = true;
        show("not saved: " + (data.detail || response.statusText), "error");
      }
    } catch (err) {
      dirty = true;
      show("not saved (offline?) – retrying", "error");
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
    show("unsaved changes");
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
  setInterval(save, 3000);
  window.addEventListener("beforeunload", event => { if (dirty && !stale) { save(); event.preventDefault(); } });
})();
