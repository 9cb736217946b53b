// A small pathname router on the History API: /:factory/:type and /:factory/:type/:id. The realtime cache's
// pending events are applied before every route change, back and forward included (flushOnNavigate in App.tsx
// wraps pushState and listens to popstate), then the view unmounts and its channels are left.
import { useEffect, useState } from 'react';

export type Route = { factory: string; type: string; id?: string };

export function parsePath(path: string): Route | null {
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 2) return { factory: parts[0], type: parts[1] };
  if (parts.length === 3) return { factory: parts[0], type: parts[1], id: parts[2] };
  return null;
}

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path + location.search);
  else history.pushState(null, '', path + location.search);
  window.dispatchEvent(new Event('app:navigate'));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    window.addEventListener('popstate', update);
    window.addEventListener('app:navigate', update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('app:navigate', update);
    };
  }, []);
  return path;
}

export function Link(props: { to: string; children: React.ReactNode; className?: string; testId?: string }) {
  return (
    <a
      href={props.to}
      className={props.className}
      data-testid={props.testId}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}
