const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

const STYLE = [
  'body{font-family:system-ui,sans-serif;background:#f0f0f0;margin:0;padding:48px 16px}',
  'main{max-width:360px;margin:0 auto;background:#fff;padding:24px 32px;border-radius:4px;box-shadow:0 1px 3px rgba(0,0,0,.2)}',
  'h1{font-size:1.4em;font-weight:400}label{display:block;margin-top:12px}',
  'input{width:100%;box-sizing:border-box;padding:8px;margin-top:4px}',
  'button{margin-top:20px;width:100%;padding:10px;background:#0066cc;color:#fff;border:0;border-radius:3px;cursor:pointer}',
  '.error{background:#fdecea;color:#a4000f;padding:8px 12px;border-left:4px solid #c9190b}',
].join('');

function page(title: string, body: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>`,
    `<body><main>${body}</main></body></html>`,
  ].join('\n');
}

export interface LoginPage {
  readonly realmName: string;
  readonly action: string;
  readonly username?: string | undefined;
  readonly error?: string | undefined;
}

export function renderLoginPage({ realmName, action, username, error }: LoginPage): string {
  const alert = error === undefined ? '' : `<p class="error" role="alert" id="input-error">${escapeHtml(error)}</p>`;
  return page(
    `Sign in to ${realmName}`,
    [
      `<h1>Sign in to ${escapeHtml(realmName)}</h1>`,
      alert,
      `<form id="kc-form-login" method="post" action="${escapeHtml(action)}">`,
      '<label for="username">Username or email</label>',
      `<input id="username" name="username" type="text" autocomplete="username" autofocus required value="${escapeHtml(username ?? '')}">`,
      '<label for="password">Password</label>',
      '<input id="password" name="password" type="password" autocomplete="current-password" required>',
      '<button type="submit" id="kc-login">Sign In</button>',
      '</form>',
    ].join('\n'),
  );
}

export function renderMessagePage(title: string, message: string, extra = ''): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${extra}`);
}

/** `form` is oidc-provider's own hidden logout form; the button submits it with logout=yes. */
export function renderLogoutConfirmPage(form: string): string {
  const button = '<button type="submit" form="op.logoutForm" name="logout" value="yes" id="kc-logout">Logout</button>';
  return renderMessagePage('Logging out', 'Do you want to log out?', `${form}${button}`);
}
