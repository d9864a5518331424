// CodeMirror 6 for the values that are code: HTML fragments (`text` variables, rendered into
// the email as they are), the sample customer's JSON and a retailer's Liquid snippets (Liquid
// over HTML). Part of the template and snippet editors' chunk, never of the first load.
import { useEffect, useImperativeHandle, useRef, type Ref } from "react";
import { Compartment, EditorSelection, EditorState, RangeSetBuilder } from "@codemirror/state";
import { Decoration, EditorView, keymap, lineNumbers, placeholder as placeholderText } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { html } from "@codemirror/lang-html";
import { json } from "@codemirror/lang-json";
import { liquid } from "@codemirror/lang-liquid";

export type EditorLanguage = "html" | "json" | "liquid";

/** What a page may do to the editor: put the cursor at an offset (an error's place) and focus it. */
export interface CodeEditorHandle {
  focusAt: (offset: number) => void;
}

const errorLineMark = Decoration.line({ class: "cm-error-line" });

/** The line at fault marked (a 1-based line; none when absent or past the end). */
function errorLineDecorations(line: number | undefined) {
  return EditorView.decorations.of((view) => {
    const builder = new RangeSetBuilder<Decoration>();
    if (line != null && line >= 1 && line <= view.state.doc.lines) {
      const at = view.state.doc.line(line).from;
      builder.add(at, at, errorLineMark);
    }
    return builder.finish();
  });
}

function languageSupport(language: EditorLanguage) {
  if (language === "json") return json();
  if (language === "liquid") return liquid();
  return html();
}

export function CodeEditor({
  id,
  value,
  onChange,
  language,
  label,
  describedBy,
  invalid,
  lines = false,
  errorLine,
  handle,
}: {
  id: string;
  value: string;
  onChange: (value: string) => void;
  language: EditorLanguage;
  /** The accessible name (the field's label text). */
  label: string;
  describedBy?: string;
  invalid?: boolean;
  lines?: boolean;
  /** A line the API found at fault, marked in the editor. */
  errorLine?: number;
  handle?: Ref<CodeEditorHandle>;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const attributes = useRef(new Compartment());
  const marks = useRef(new Compartment());
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
          languageSupport(language),
          EditorView.lineWrapping,
          attributes.current.of(contentAttributes()),
          marks.current.of(errorLineDecorations(errorLine)),
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
    view.current?.dispatch({ effects: marks.current.reconfigure(errorLineDecorations(errorLine)) });
  }, [errorLine]);

  useImperativeHandle(
    handle,
    () => ({
      focusAt: (offset: number) => {
        const editor = view.current;
        if (!editor) return;
        const at = Math.min(Math.max(offset, 0), editor.state.doc.length);
        editor.dispatch({ selection: EditorSelection.cursor(at), scrollIntoView: true });
        editor.focus();
      },
    }),
    [],
  );

  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() !== value) {
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } });
    }
  }, [value]);

  return <div className="code-editor" ref={host} data-testid={`editor-${id}`} />;
}
