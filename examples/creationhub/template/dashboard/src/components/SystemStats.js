// System statistics panel: polls the API for load and database figures.
const POLL_INTERVAL = 2000;

export function mountSystemStats(el, apiUrl) {
  const tick = async () => {
    const res = await fetch(`${apiUrl}/health`);
    const health = await res.json();
    el.textContent = `DB connections: ${health.db.connections}/${health.db.max_connections}`;
  };
  tick();
  return setInterval(tick, POLL_INTERVAL);
}
