// The RaMa-Scene React front end is bundled with webpack in production; the stand-in
// bundle only says where the API and the websocket are.
export const apiUrl = "/ajaxhandler/";
export const websocketUrl = "/ramascene/";
