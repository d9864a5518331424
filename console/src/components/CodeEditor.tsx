// CodeMirror 6 for the values that are code: HTML fragments (`text` variables, rendered into
// the email as they are) and the sample customer's JSON. Part of the template editor's chunk,
// never of the first load.
import { useEffect, useRef } from "react";
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, placeholder as placeholderText } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { html } from "@codemirror/lang-html";
import { json } from "@codemirror/lang-json";

export function CodeEditor({
  id,
  value,
  onChange,
  language,
  label,
  describedBy,
  invalid,
  lines = false,
}: {
  id: string;
  value: string;
  onChange: (value: string) => void;
  language: "html" | "json";
  /** The accessible name (the field's label text). */
  label: string;
  describedBy?: string;
  invalid?: boolean;
  lines?: boolean;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const attributes = useRef(new Compartment());
  const changed = useRef(onChange);
  changed.current = onChange;
  const contentAttributes = () => {
    const named: Record<string, string> = { "aria-label": label, "aria-multiline": "true", id };
    if (describedBy) named["aria-describedby"] = describedBy;
    if (invalid) named["aria-invalid"] = "true";
    return EditorView.contentAttributes.of(named);
  };

  useEffect(() => {
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          history(),
          // Tab indents; Escape then Tab leaves the editor (CodeMirror's focus escape).
          keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
          lines ? lineNumbers() : [],
          bracketMatching(),
          syntaxHighlighting(defaultHighlightStyle),
          language === "html" ? html() : json(),
          EditorView.lineWrapping,
          attributes.current.of(contentAttributes()),
          placeholderText(language === "json" ? '{"first_name": "Ana"}' : ""),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) changed.current(update.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = editor;
    return () => editor.destroy();
    // Built once per field; the value and the attributes follow through the effects below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [language, id]);

  useEffect(() => {
    view.current?.dispatch({ effects: attributes.current.reconfigure(contentAttributes()) });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [label, describedBy, invalid]);

  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() !== value) {
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } });
    }
  }, [value]);

  return <div className="code-editor" ref={host} data-testid={`editor-${id}`} />;
}
