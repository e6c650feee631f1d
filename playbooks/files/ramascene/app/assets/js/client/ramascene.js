// the webpack entry of the real front end (CMLPlatform/ramascene, assets/js/client/ramascene.js)
export const WEBSOCKET_URL = "/ramascene/";
