// The app's own backend calls (stand-ins: this app is built, not served).
export interface WorkOrder {
  id: string;
  status: 'open' | 'approved' | 'rejected';
  qty: number;
  version: number;
}

export interface WorkOrderPage {
  rows: WorkOrder[];
  next: number | null;
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`/api${path}`);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export const api = {
  wo: (id: string) => get<WorkOrder>(`/wo/${encodeURIComponent(id)}`),
  wos: (factoryId: string, page: number) => get<WorkOrderPage>(`/factories/${encodeURIComponent(factoryId)}/wo?page=${page}`),
};
