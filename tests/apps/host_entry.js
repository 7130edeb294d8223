// Bundled by esbuild at test time (tests/test_app_browser.py): ext-apps' own host side, for the test host page.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

window.ExtApps = { AppBridge, PostMessageTransport };
