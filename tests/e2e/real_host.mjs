// The real agenthost for the widget's browser test (issue 15): a temporary
// data directory, the llm-openai plugin against tests/fakes/fake_openai,
// `agenthost serve` on 127.0.0.1:0 (the port read from logs/host.log, as
// tests/support/th.c does), the jq plugin, and widgets made over /api/v1/widgets:
//   onboarding  the example "Onboarding" agent made on first start
//   faq         an ask step, then an llm.chat step whose answer streams
//   xss         texts and button labels carrying script payloads
// Every wait is bounded.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
const readOr = (p) => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
};

const FAQ = {
  format: "agenthost.scenario/1", default_language: "en", languages: ["en"],
  variables: { q: { type: "string" } }, start: "listen",
  steps: {
    listen: { kind: "ask", text: { en: "Ask me about refunds." }, var: "q", next: "answer" },
    answer: { kind: "llm.chat", args: { messages: [{ role: "user", content: "{{ vars.q }}" }] }, say: true, timeout_ms: 30000, next: "listen" },
  },
};
const XSS_AGENT = {
  format: "agenthost.scenario/1", default_language: "en", languages: ["en"],
  variables: { p: { type: "string" } }, start: "hello",
  steps: {
    hello: {
      kind: "say", text: { en: `${XSS} **bold** [link](javascript:window.__xss=1)` },
      buttons: [{ label: { en: "Docs" }, url: "https://example.com/docs" }], next: "pick",
    },
    pick: {
      kind: "choice", text: { en: "Pick one <script>window.__xss=1</script>" }, var: "p", layout: "buttons",
      options: [{ id: "p1", label: { en: '<img src=x onerror="window.__xss=1">' } }, { id: "p2", label: { en: "Evil link" } }],
      next: "done",
    },
    done: { kind: "say", text: { en: "You picked {{ vars.p }} <script>window.__xss=1</script>" }, next: "end" },
    end: { kind: "end" },
  },
};

export async function startRealHost(bin, widgetJs, siteOrigin) {
  const build = dirname(bin);
  const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "ah-e2e-"));
  const data = join(dir, "var"), logs = join(dir, "logs"), plugins = join(dir, "plugins");
  for (const d of [data, logs, plugins]) mkdirSync(d, { recursive: true });
  // jq: the example agent's switch step evaluates expressions.
  for (const p of ["llm-openai", "jq"]) symlinkSync(join(build, "plugins", p), join(plugins, p));

  // The fake model: "pause-stream" sends the role and two tokens, pauses, then the rest.
  const portFile = join(dir, "llm.port");
  const llm = spawn(join(build, "tests", "fakes", "fake_openai"), ["--port-file", portFile], { stdio: "ignore" });
  const llmPort = Number(await until("fake_openai's port", 10000, () => readOr(portFile).trim()));

  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({
    data_dir: data, logs_dir: logs, plugins_dir: plugins, listen: "127.0.0.1:0",
    engine: { flood_per_minute: 1000000, example_agent: true },
    webchat: { script: widgetJs, keepalive_ms: 1000 },
    instances: [{
      id: "llm", plugin: "llm-openai",
      config: { base_url: `http://127.0.0.1:${llmPort}/v1`, model: "pause-stream:1500" },
      egress: [{ scheme: "http", host: "127.0.0.1", port: llmPort, private: true }],
    }],
  }, null, 2));
  const cli = (args, input) => execFileSync(bin, [...args, "--data", data, "--config", config], { input, encoding: "utf8", timeout: 20000 });
  cli(["secret", "set", "llm", "api_key"], "sk-test-Zq8vN3kLpW5xR2mT7yB4\n");

  // No token made beforehand: on its first start the host makes the example
  // agent and the first admin token, shown once on stderr.
  const errPath = join(dir, "stderr.txt");
  const proc = spawn(bin, ["serve", "--config", config], { stdio: ["ignore", "ignore", openSync(errPath, "a")] });
  let exited = null;
  proc.on("exit", (code, sig) => (exited = code ?? sig));
  async function close() {
    if (exited === null) proc.kill("SIGTERM");
    await until("agenthost to stop", 15000, () => exited !== null).catch(() => proc.kill("SIGKILL"));
    llm.kill("SIGTERM");
    if (!process.env.TH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
  try {
    return await setUp();
  } catch (e) {
    await close();
    throw e;
  }

  async function setUp() {
  const port = await until("the host's port", 20000, () => {
    if (exited !== null) throw new Error(`agenthost exited (${exited}): ${readOr(join(dir, "stderr.txt")).slice(-3000)}`);
    for (const line of readOr(join(logs, "host.log")).split("\n").reverse())
      if (line.includes("listening on")) return JSON.parse(line).port;
    return 0;
  });
  const origin = `http://127.0.0.1:${port}`;
  const token = readOr(errPath).match(/store it now:\s+(\S+)/)?.[1];
  if (!token) throw new Error("no first admin token on the host's stderr");

  async function api(method, path, body, want) {
    const r = await fetch(origin + path, {
      method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15000),
    });
    const o = await r.json().catch(() => null);
    if (want && r.status !== want) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(o)}`);
    return o;
  }
  async function makeAgent(name, content) {
    const scn = await api("POST", "/api/v1/scenarios", { name }, 201);
    await api("POST", `/api/v1/scenarios/${scn.id}/versions`, { message: "first", content }, 201);
    const a = await api("POST", "/api/v1/agents", {
      name, status: "active", default_language: "en", languages: ["en", "ru"], scenario: { scenario_id: scn.id },
    }, 201);
    return a.id;
  }
  const makeWidget = async (agent_id) =>
    (await api("POST", "/api/v1/widgets", {
      name: "Shop chat", agent_id, allowed_origins: [siteOrigin],
      limits: { sessions_per_minute_per_ip: 600, messages_per_minute: 600 },
    }, 201)).id;

  await until("the llm instance ready", 20000, async () => (await api("GET", "/api/v1/instances/llm"))?.state === "ready");
  const onb = await until("the example agent", 10000, async () => (await api("GET", "/api/v1/agents?q=Onboarding"))?.items?.[0]?.id);
  const widgets = {
    onboarding: await makeWidget(onb),
    faq: await makeWidget(await makeAgent("FAQ", FAQ)),
    xss: await makeWidget(await makeAgent("XSS", XSS_AGENT)),
  };

  return { origin, widgets, close, dir };
  }
}
