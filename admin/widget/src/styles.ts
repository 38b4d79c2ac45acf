// The widget's styles, scoped by its shadow root. Themed through CSS custom
// properties that the page may set on #agenthost-chat (they inherit into the
// shadow tree) and the script tag's data-color.

export const STYLES = `
:host{all:initial;--ah-color:#2563eb;--ah-text-on-color:#fff;--ah-bg:#fff;--ah-fg:#111827;--ah-muted:#6b7280;--ah-agent-bg:#f3f4f6;--ah-radius:14px;--ah-font:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;--ah-z:2147483000}
*{box-sizing:border-box}
.root{position:fixed;right:20px;bottom:20px;z-index:var(--ah-z);font:14px/1.45 var(--ah-font);color:var(--ah-fg)}
button{font:inherit;cursor:pointer}
:focus-visible{outline:2px solid var(--ah-color);outline-offset:2px}
.bubble{width:56px;height:56px;border-radius:50%;border:0;background:var(--ah-color);color:var(--ah-text-on-color);box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}
.bubble{position:relative}.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#dc2626;color:#fff;font-size:12px;line-height:20px;font-weight:600}.badge[hidden]{display:none}
.bubble svg{width:28px;height:28px;fill:currentColor}
.panel{position:absolute;right:0;bottom:72px;width:370px;height:560px;max-height:calc(100vh - 100px);background:var(--ah-bg);border-radius:var(--ah-radius);box-shadow:0 10px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}
.panel[hidden]{display:none}
header{background:var(--ah-color);color:var(--ah-text-on-color);padding:12px 14px;display:flex;align-items:center;gap:8px}
header h2{flex:1;margin:0;font-size:15px;font-weight:600}
.status{font-size:12px;opacity:.85}
.x{background:none;border:0;color:inherit;font-size:22px;line-height:1;padding:2px 6px}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}
.msg{max-width:85%;padding:8px 12px;border-radius:var(--ah-radius);word-wrap:break-word;overflow-wrap:anywhere}
.msg p{margin:0 0 6px}.msg p:last-child{margin:0}
.msg ul,.msg ol{margin:4px 0;padding-left:20px}
.msg code{font-family:ui-monospace,monospace;background:rgba(0,0,0,.06);padding:0 3px;border-radius:4px}
.msg a{color:inherit;text-decoration:underline}
.agent{align-self:flex-start;background:var(--ah-agent-bg)}
.user{align-self:flex-end;background:var(--ah-color);color:var(--ah-text-on-color)}
.pending{opacity:.6}.failed{outline:1px solid #dc2626}
.stream{white-space:pre-wrap}
.btns{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start}
.btns a{text-decoration:none}
.btns button,.btns a{border:1px solid var(--ah-color);color:var(--ah-color);background:var(--ah-bg);border-radius:999px;padding:5px 12px}
.btns button:disabled{opacity:.5;cursor:default}
.msg img{display:block;max-width:100%;border-radius:8px;margin-top:4px}
.file{display:block;margin-top:4px}
.typing{padding:0 14px 6px;color:var(--ah-muted);font-size:12px}
.typing[hidden]{display:none}
form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb}
textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:10px;padding:8px 10px;font:inherit;color:var(--ah-fg);background:var(--ah-bg);max-height:120px}
.clip{border:0;background:none;color:var(--ah-muted);padding:0 2px;display:flex;align-items:center}.clip svg{width:20px;height:20px;fill:currentColor}
.send{border:0;border-radius:10px;background:var(--ah-color);color:var(--ah-text-on-color);padding:0 14px}
@media (max-width:480px){.root.open{inset:0}.root.open .bubble{display:none}.root.open .panel{position:fixed;inset:0;width:100%;height:100%;max-height:none;border-radius:0}}
@media (prefers-reduced-motion:no-preference){.panel{transition:opacity .15s}}
`;
