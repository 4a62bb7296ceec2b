// Starts `manifest lsp` (stdio) for .manifest files; settings: manifest.server.command / .args.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("manifest.server");
  const server = {
    command: settings.get("command", "manifest"),
    args: settings.get("args", ["lsp"]),
    transport: TransportKind.stdio,
  };
  client = new LanguageClient(
    "manifest",
    "Manifest",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "manifest" }] },
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
