// A retailer's own Liquid snippets: list, create, edit in CodeMirror's Liquid mode, save (the API
// compiles first; a 422 names the line and column, shown at the editor), delete with a
// confirmation. The library's snippets are listed from the API with what they are for; replacing
// one starts the editor from a copy of the library's source.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, seg } from "../api/client";
import type { LibrarySnippetDetail, LibrarySnippetSummary, SnippetDetail, SnippetSummary } from "../api/types";
import { CodeEditor, type CodeEditorHandle } from "../components/CodeEditor";
import { describedBy, Field, formatTime, ProblemAlert, useLoad } from "../components/common";
import { useApp } from "../context";
import {
  describeSourceError,
  MAX_RETAILER_SNIPPETS,
  offsetOf,
  snippetNameProblem,
  snippetSourceProblem,
  sourceErrors,
  splitCompilerMessage,
  startingSource,
} from "../logic/snippets";
import { href, navigate } from "../router";

export default function Snippets({ tenant, name }: { tenant: string; name?: string }) {
  const { api } = useApp();
  const base = `/tenants/${seg(tenant)}/snippets`;
  const list = useLoad(() => api.get<SnippetSummary[]>(base), base);
  const libraryBase = `/tenants/${seg(tenant)}/library/snippets`;
  const library = useLoad(() => api.get<LibrarySnippetSummary[]>(libraryBase), libraryBase);
  const changed = async () => {
    await Promise.all([list.reload(), library.reload()]);
  };
  // The editor a new name opens takes the focus; a deletion is announced.
  const [created, setCreated] = useState<string | null>(null);
  const [deleted, setDeleted] = useState("");
  return (
    <section aria-labelledby="snippets-title" className="wide">
      <h1 id="snippets-title">Snippets</h1>
      <p className="hint" data-testid="snippets-publish-note">
        Your own Liquid partials, for your templates only: a template reaches one with{" "}
        <code>{"{% render 'name' %}"}</code>, and one named like a library snippet replaces it.{" "}
        <strong>Saving a snippet does not republish your templates:</strong> previews use it at once, and each template
        picks it up at its next publish (<em>Save and publish</em> on its page, or the next deploy of the library).
        Versions already published, and campaigns launched with them, keep the snippets they were published with.
      </p>
      <p aria-live="polite" className="notice notice-collapsible" data-testid="snippets-notice">
        {name ? "" : deleted}
      </p>
      <div className="split">
        <div>
          <SnippetList tenant={tenant} list={list.data} error={list.error} selected={name} />
          <NewSnippet tenant={tenant} count={list.data?.length ?? 0} onCreate={setCreated} />
          <LibraryList tenant={tenant} library={library.data} error={library.error} />
        </div>
        {name ? (
          <SnippetEditor
            key={`${tenant}/${name}`}
            tenant={tenant}
            name={name}
            focus={created === name}
            onChanged={changed}
            onDeleted={() => setDeleted(`Deleted the snippet ${name}.`)}
          />
        ) : (
          <p className="card">Pick a snippet, or create one.</p>
        )}
      </div>
    </section>
  );
}

function SnippetList({
  tenant,
  list,
  error,
  selected,
}: {
  tenant: string;
  list?: SnippetSummary[];
  error: unknown;
  selected?: string;
}) {
  return (
    <div className="card">
      <h2 id="own-snippets-title">Your snippets</h2>
      <ProblemAlert error={error} context="Snippets" />
      {list ? (
        list.length === 0 ? (
          <p className="muted">None yet: your templates use the library's.</p>
        ) : (
          <table className="table" data-testid="snippet-list" aria-labelledby="own-snippets-title">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Saved</th>
              </tr>
            </thead>
            <tbody>
              {list.map((snippet) => (
                <tr key={snippet.name}>
                  <td>
                    <a
                      href={href(`/t/${tenant}/snippets/${snippet.name}`)}
                      aria-current={snippet.name === selected ? "page" : undefined}
                    >
                      {snippet.name}
                    </a>
                    {snippet.overrides_library ? <span className="muted"> · replaces the library's</span> : null}
                  </td>
                  <td>{formatTime(snippet.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : error ? null : (
        <p aria-live="polite">Loading…</p>
      )}
    </div>
  );
}

function NewSnippet({
  tenant,
  count,
  onCreate,
}: {
  tenant: string;
  count: number;
  onCreate: (name: string) => void;
}) {
  const [name, setName] = useState("");
  const [tried, setTried] = useState(false);
  const problem = snippetNameProblem(name.trim());
  const full = count >= MAX_RETAILER_SNIPPETS;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    if (problem || full) return;
    onCreate(name.trim());
    navigate(`/t/${tenant}/snippets/${name.trim()}`);
    setName("");
    setTried(false);
  };
  const error = tried && problem ? problem : undefined;
  return (
    <form className="card" onSubmit={submit} aria-labelledby="new-snippet-title" noValidate>
      <h2 id="new-snippet-title">New snippet</h2>
      <Field label="Snippet name" id="snippet-name" hint="1 to 64 of a-z, 0-9, _ and -." error={error}>
        <input
          id="snippet-name"
          value={name}
          maxLength={64}
          autoComplete="off"
          spellCheck={false}
          aria-describedby={describedBy("snippet-name", true, !!error)}
          aria-invalid={error ? true : undefined}
          onChange={(event) => setName(event.target.value)}
        />
      </Field>
      {full ? <p className="field-error">A retailer has at most {MAX_RETAILER_SNIPPETS} snippets: delete one first.</p> : null}
      <button type="submit" disabled={full}>
        Create snippet
      </button>
    </form>
  );
}

function LibraryList({
  tenant,
  library,
  error,
}: {
  tenant: string;
  library?: LibrarySnippetSummary[];
  error: unknown;
}) {
  return (
    <div className="card">
      <h2 id="library-snippets-title">The library's snippets</h2>
      <p className="hint">
        The standard templates render these. A snippet of yours with the same name replaces one for your templates;
        replacing starts from a copy of the library's source.
      </p>
      <ProblemAlert error={error} context="The library's snippets" />
      {library ? (
        <ul className="plain-list" aria-labelledby="library-snippets-title" data-testid="library-snippets">
          {library.map((snippet) => (
            <li key={snippet.name}>
              <code>{snippet.name}</code> <span className="muted">{snippet.description}</span>{" "}
              {snippet.replaced_by_retailer ? (
                <span className="muted">(replaced by yours)</span>
              ) : (
                <a href={href(`/t/${tenant}/snippets/${snippet.name}`)} aria-label={`Replace ${snippet.name} with your own`}>
                  Replace with your own
                </a>
              )}
            </li>
          ))}
        </ul>
      ) : error ? null : (
        <p aria-live="polite">Loading…</p>
      )}
    </div>
  );
}

function SnippetEditor({
  tenant,
  name,
  focus,
  onChanged,
  onDeleted,
}: {
  tenant: string;
  name: string;
  /** Put the cursor in the editor once loaded (a name just created). */
  focus: boolean;
  onChanged: () => Promise<void>;
  onDeleted: () => void;
}) {
  const { api } = useApp();
  const path = `/tenants/${seg(tenant)}/snippets/${seg(name)}`;
  const libraryPath = `/tenants/${seg(tenant)}/library/snippets/${seg(name)}`;
  const nameProblem = snippetNameProblem(name);
  // A 404 is a snippet this retailer does not have yet (or a name the library does not have).
  const loaded = useLoad(() => orNone(api.get<SnippetDetail>(path)), path);
  const libraryLoaded = useLoad(() => orNone(api.get<LibrarySnippetDetail>(libraryPath)), libraryPath);
  const [source, setSource] = useState("");
  const [saveError, setSaveError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const editor = useRef<CodeEditorHandle>(null);
  const saved = loaded.data;
  const library = libraryLoaded.data;
  const start = startingSource(saved, library);

  useEffect(() => {
    if (start !== undefined) setSource(start);
  }, [start]);

  const loadedOnce = start !== undefined;
  useEffect(() => {
    if (focus && loadedOnce) editor.current?.focusAt(0);
  }, [focus, loadedOnce]);

  if (nameProblem) return <p className="problem" role="alert">{`“${name}” is no snippet name: ${nameProblem}`}</p>;
  if (loaded.error) return <ProblemAlert error={loaded.error} context={`Snippet ${name}`} />;
  if (libraryLoaded.error) return <ProblemAlert error={libraryLoaded.error} context={`The library's ${name}`} />;
  if (saved === undefined || library === undefined) return <p aria-live="polite">Loading…</p>;

  const errors = sourceErrors(saveError);
  const located = errors.find((error) => error.line != null);
  const sizeProblem = snippetSourceProblem(source);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSaveError(null);
    setNotice("");
    setBusy(true);
    try {
      const stored = await api.put<SnippetDetail>(path, { source });
      loaded.setData(stored);
      setNotice(
        `Saved ${stored.name}. Previews use it now; your templates pick it up at their next publish (Save and publish).`,
      );
      await onChanged();
    } catch (caught) {
      setSaveError(caught);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setSaveError(null);
    setBusy(true);
    try {
      await api.delete(path);
      setConfirming(false);
      await onChanged();
      onDeleted();
      navigate(`/t/${tenant}/snippets`);
    } catch (caught) {
      setSaveError(caught);
    } finally {
      setBusy(false);
    }
  };

  const hint = located ? "snippet-source-error" : undefined;
  return (
    <form className="card" onSubmit={save} aria-labelledby="snippet-title">
      <h2 id="snippet-title">
        {saved ? name : `New snippet ${name}`}
        {saved ? <span className="muted"> · saved {formatTime(saved.updated_at)}</span> : null}
      </h2>
      {library ? (
        <p className="hint" data-testid="snippet-replaces">
          Replaces the library's <code>{name}</code> for your templates ({library.description})
          {saved ? null : <>. The editor starts from a copy of the library's source.</>}
        </p>
      ) : null}
      <p className="hint" id="snippet-source-hint">
        Use it with <code>{`{% render '${name}' %}`}</code>. A rendered snippet sees its arguments, <code>vars</code> and{" "}
        <code>brand</code> only. In the editor, Tab indents; Escape then Tab leaves it.
      </p>
      <label htmlFor="snippet-source" className="block-label">
        Liquid source
      </label>
      <CodeEditor
        id="snippet-source"
        label="Liquid source"
        language="liquid"
        lines
        value={source}
        invalid={errors.length > 0 || !!sizeProblem}
        describedBy={[hint, "snippet-source-hint"].filter(Boolean).join(" ")}
        errorLine={located?.line}
        handle={editor}
        onChange={(text) => {
          setSource(text);
          if (errors.length > 0) setSaveError(null);
        }}
      />
      {sizeProblem ? <p className="field-error">{sizeProblem}</p> : null}
      {errors.length > 0 ? (
        <div className="problem" role="alert" id="snippet-source-error" data-testid="snippet-error">
          <p className="problem-title">Not saved: the snippet does not compile</p>
          {errors.map((error, index) => {
            const excerpt = splitCompilerMessage(error.reason).excerpt;
            return (
              <div key={index}>
                <p className="problem-detail" data-testid="snippet-error-place">
                  {describeSourceError(error)}{" "}
                  {error.line != null ? (
                    <button
                      type="button"
                      className="link"
                      onClick={() => editor.current?.focusAt(offsetOf(source, error.line!, error.column))}
                    >
                      Go to line {error.line}
                    </button>
                  ) : null}
                </p>
                {excerpt ? <pre className="excerpt">{excerpt}</pre> : null}
              </div>
            );
          })}
        </div>
      ) : (
        <ProblemAlert error={saveError} context="Not saved" />
      )}
      <p aria-live="polite" className="notice" data-testid="snippet-notice">
        {notice}
      </p>
      <div className="row">
        <button type="submit" disabled={busy || !!sizeProblem}>
          Save snippet
        </button>
        {saved && !confirming ? (
          <button type="button" className="secondary" onClick={() => setConfirming(true)}>
            Delete snippet
          </button>
        ) : null}
      </div>
      {confirming ? (
        <ConfirmDelete
          name={name}
          library={!!library}
          busy={busy}
          onConfirm={() => void remove()}
          onCancel={() => setConfirming(false)}
        />
      ) : null}
    </form>
  );
}

function ConfirmDelete({
  name,
  library,
  busy,
  onConfirm,
  onCancel,
}: {
  name: string;
  library: boolean;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  // The safe choice takes the focus; Escape cancels.
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div
      className="confirm"
      role="alertdialog"
      aria-labelledby="confirm-delete-title"
      aria-describedby="confirm-delete-detail"
      onKeyDown={(event) => {
        if (event.key === "Escape") onCancel();
      }}
    >
      <p id="confirm-delete-title">
        <strong>Delete the snippet {name}?</strong>
      </p>
      <p id="confirm-delete-detail">
        {library
          ? `Your templates go back to the library's ${name} at their next publish.`
          : `A template or snippet that renders ${name} fails its next publish until you add it again.`}{" "}
        Published versions keep the snippet they were published with.
      </p>
      <div className="row">
        <button type="button" className="danger" disabled={busy} onClick={onConfirm}>
          Delete {name}
        </button>
        <button type="button" className="secondary" ref={cancel} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** A 404 read as "none". */
async function orNone<T>(request: Promise<T>): Promise<T | null> {
  try {
    return await request;
  } catch (caught) {
    if (caught instanceof ApiError && caught.status === 404) return null;
    throw caught;
  }
}
