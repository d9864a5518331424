import { useEffect, useState, type FormEvent } from "react";
import { ApiClient, ApiError } from "../api/client";
import { finishSignIn, startSignIn } from "../auth/cognito";
import { saveSession, sessionFromToken, type Session } from "../auth/session";
import type { ConsoleConfig } from "../config";
import { Field, ProblemAlert } from "../components/common";

export function SignIn({ config, onSignedIn }: { config: ConsoleConfig; onSignedIn: (session: Session) => void }) {
  const [error, setError] = useState<unknown>(null);
  const accept = (token: string) => {
    const session = sessionFromToken(token);
    if (!session) throw new Error("The token carries no role the console knows.");
    saveSession(session);
    onSignedIn(session);
  };
  const signIn = config.sign_in;
  useEffect(() => {
    if (signIn.kind !== "cognito") return;
    finishSignIn(signIn, window.location.search).then(
      (token) => {
        if (!token) return;
        window.history.replaceState(null, "", window.location.pathname);
        accept(token);
      },
      setError,
    );
    // Once, on arrival from the hosted UI.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return (
    <main className="page sign-in" id="main">
      <h1>Sign in to Storecast</h1>
      {signIn.kind === "local" ? (
        <LocalSignIn config={config} onToken={accept} onError={setError} />
      ) : (
        <button type="button" onClick={() => startSignIn(signIn).catch(setError)}>
          Sign in
        </button>
      )}
      <ProblemAlert error={error} context="Sign-in" />
    </main>
  );
}

function LocalSignIn({
  config,
  onToken,
  onError,
}: {
  config: ConsoleConfig;
  onToken: (token: string) => void;
  onError: (error: unknown) => void;
}) {
  const [role, setRole] = useState("marketer");
  const [tenant, setTenant] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    onError(null);
    try {
      const path = config.sign_in.kind === "local" ? config.sign_in.path : "/local/sign-in";
      const answer = await new ApiClient(config.api_base, () => null).post<{ token: string }>(path, {
        role,
        tenant: role === "operator" ? undefined : tenant,
      });
      onToken(answer.token);
    } catch (caught) {
      onError(caught instanceof ApiError || caught instanceof Error ? caught : new Error(String(caught)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} className="card narrow" aria-describedby="local-sign-in-note">
      <p id="local-sign-in-note" className="hint">
        Development sign-in of the local stack: a token for any role, signed with the local key. In
        AWS the console signs in with the Cognito hosted UI instead.
      </p>
      <Field label="Role" id="sign-in-role">
        <select id="sign-in-role" value={role} onChange={(e) => setRole(e.target.value)}>
          <option value="marketer">Marketer</option>
          <option value="operator">Operator</option>
        </select>
      </Field>
      {role !== "operator" ? (
        <Field label="Retailer (tenant id)" id="sign-in-tenant">
          <input
            id="sign-in-tenant"
            value={tenant}
            onChange={(e) => setTenant(e.target.value)}
            required
            autoComplete="off"
            pattern="[A-Za-z0-9_\-]+"
          />
        </Field>
      ) : null}
      <button type="submit" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
