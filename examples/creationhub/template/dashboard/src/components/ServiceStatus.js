// Service status badges: polls the API to show whether each service is up.
const POLL_INTERVAL = 2000;

export function mountServiceStatus(el, apiUrl) {
  const tick = async () => {
    try {
      const res = await fetch(`${apiUrl}/health`);
      el.textContent = res.ok ? 'system-api: up' : 'system-api: degraded';
    } catch {
      el.textContent = 'system-api: down';
    }
  };
  tick();
  return setInterval(tick, POLL_INTERVAL);
}
