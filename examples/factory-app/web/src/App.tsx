// The app shell: demo sign-in (a token for a chosen factory set), the realtime cache bound to that token and
// the route's factory, navigation, the live indicator and the dashboard.
import { useEffect, useMemo, useState } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { RealtimeClient } from '@supabase/realtime-js';
import { createRealtimeCache, flushOnNavigate, type RealtimeCache } from '@rtcache/sdk';
import { RealtimeProvider } from '@rtcache/sdk/react';
import { DOC_TYPES, mintToken, setApiToken } from './api';
import { Dashboard, LiveIndicator } from './panels';
import { Link, navigate, parsePath, usePath } from './router';
import { DetailView, ListView } from './views';

// Demo users: each is a factory set the minted token is scoped to. `?as=f1` picks one on first load.
const USERS = ['f1,f2', 'f1', 'f2', 'f3'];

type Session = { user: string; factories: string[]; token: string };

async function signIn(user: string): Promise<Session> {
  const factories = user.split(',').filter(Boolean);
  const token = await mintToken(factories);
  setApiToken(token);
  return { user, factories, token };
}

function initialUser(): string {
  const as = new URLSearchParams(location.search).get('as');
  return as && /^[A-Za-z0-9_.,-]+$/.test(as) ? as : USERS[0];
}

export function App() {
  const [session, setSession] = useState<Session>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    signIn(initialUser()).then(setSession, (e) => setError(String(e)));
  }, []);
  if (error) return <p className="error">Sign-in failed: {error}</p>;
  if (!session) return <p>Signing in…</p>;
  return <Live session={session} onSwitchUser={async (u) => setSession(await signIn(u))} />;
}

function Live({ session, onSwitchUser }: { session: Session; onSwitchUser: (user: string) => Promise<void> }) {
  const path = usePath();
  const route = parsePath(path);
  const factory = route?.factory ?? session.factories[0];

  // One query client and one realtime cache for the page's life; the token and factory change under them.
  const { queryClient, rt } = useMemo(() => {
    const queryClient = new QueryClient({
      defaultOptions: { queries: { staleTime: Infinity, refetchOnWindowFocus: false, retry: false } },
    });
    const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/realtime/v1`;
    const realtime = new RealtimeClient(wsBase, { params: { apikey: session.token } });
    const initial = session.factories.includes(factory) ? factory : session.factories[0];
    const rt: RealtimeCache = createRealtimeCache({ queryClient, realtime, factoryId: initial, windowMs: 500 });
    (window as unknown as Record<string, unknown>).__rtcache = { rt, queryClient, realtime };
    return { queryClient, rt };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Before every route change (links, back and forward), the pending events are applied.
  useEffect(() => flushOnNavigate(rt), [rt]);
  useEffect(() => {
    void rt.setAuth(session.token);
  }, [rt, session.token]);
  const inScope = session.factories.includes(factory);
  useEffect(() => {
    // A factory outside the token's scope is never watched: the view below refuses it instead.
    if (inScope) rt.setFactory(factory);
  }, [rt, factory, inScope]);
  useEffect(() => {
    if (!route) navigate(`/${session.factories[0]}/wo`, true);
  }, [route, session.factories]);

  return (
    <QueryClientProvider client={queryClient}>
      <RealtimeProvider cache={rt}>
        <div className="shell">
          <header className="top">
            <h1>Factory floor</h1>
            <label>
              user{' '}
              <select
                data-testid="user-switcher"
                value={session.user}
                onChange={async (e) => {
                  const user = e.target.value;
                  await onSwitchUser(user);
                  const first = user.split(',')[0];
                  if (!user.split(',').includes(factory)) navigate(`/${first}/${route?.type ?? 'wo'}`);
                }}
              >
                {[...new Set([session.user, ...USERS])].map((u) => (
                  <option key={u} value={u}>
                    factories {u}
                  </option>
                ))}
              </select>
            </label>
            <label>
              factory{' '}
              <select
                data-testid="factory-switcher"
                value={inScope ? factory : ''}
                onChange={(e) => navigate(`/${e.target.value}/${route?.type ?? 'wo'}`)}
              >
                {inScope ? null : <option value="">{factory} (not yours)</option>}
                {session.factories.map((f) => (
                  <option key={f} value={f}>
                    {f}
                  </option>
                ))}
              </select>
            </label>
            <LiveIndicator />
          </header>
          <nav className="types">
            {DOC_TYPES.map((t) => (
              <Link key={t.type} to={`/${factory}/${t.type}`} className={route?.type === t.type ? 'active' : ''} testId={`nav-${t.type}`}>
                {t.label}
              </Link>
            ))}
          </nav>
          <main>
            {!route ? null : !inScope ? (
              <p className="error" data-testid="view-error" data-status="403">
                Factory {factory} is outside your scope.
              </p>
            ) : route.id ? (
              <DetailView key={`${route.type}:${route.id}`} type={route.type} factory={factory} id={route.id} />
            ) : (
              <ListView key={`${factory}:${route.type}`} type={route.type} factory={factory} />
            )}
          </main>
          <Dashboard />
        </div>
      </RealtimeProvider>
    </QueryClientProvider>
  );
}
