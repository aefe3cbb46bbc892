import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type Interaction, type Provider } from 'oidc-provider';
import { authenticate, type Authentication } from './credentials.ts';
import { renderLoginPage, renderMessagePage } from './html.ts';
import { readForm, sendHtml } from './http.ts';
import type { Realm } from './realm.ts';

export interface LoginActionSettings {
  readonly provider: Provider;
  readonly realm: Realm;
  /** The path the login form posts back to, e.g. /realms/agora/login-actions/authenticate/<uid>. */
  readonly action: string;
  readonly uid: string;
}

const FAILURE_MESSAGES: Record<Extract<Authentication, { ok: false }>['reason'], string> = {
  'invalid-credentials': 'Invalid username or password.',
  disabled: 'Account is disabled, contact your administrator.',
};

async function pendingLogin(settings: LoginActionSettings, req: IncomingMessage, res: ServerResponse): Promise<Interaction | undefined> {
  try {
    const interaction = await settings.provider.interactionDetails(req, res);
    return interaction.uid === settings.uid && interaction.prompt.name === 'login' ? interaction : undefined;
  } catch (error) {
    if (error instanceof errors.SessionNotFound) return undefined;
    throw error;
  }
}

async function submitCredentials(settings: LoginActionSettings, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req);
  const username = form.get('username') ?? '';
  const result = authenticate(settings.realm, username, form.get('password') ?? '');
  if (!result.ok) {
    const error = FAILURE_MESSAGES[result.reason];
    sendHtml(res, 200, renderLoginPage({ realmName: settings.realm.displayName, action: settings.action, username, error }));
    return;
  }
  await settings.provider.interactionFinished(req, res, { login: { accountId: result.user.id } }, { mergeWithLastSubmission: false });
}

/** The realm's login page: shows the form (GET) and checks the submitted credentials (POST). */
export async function handleLoginAction(settings: LoginActionSettings, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'POST') {
    res.writeHead(405, { allow: 'GET, POST' }).end();
    return;
  }
  if ((await pendingLogin(settings, req, res)) === undefined) {
    sendHtml(res, 400, renderMessagePage('Your login attempt timed out', 'Login will start from the beginning: go back to the application.'));
    return;
  }
  if (req.method === 'POST') {
    await submitCredentials(settings, req, res);
    return;
  }
  sendHtml(res, 200, renderLoginPage({ realmName: settings.realm.displayName, action: settings.action }));
}
