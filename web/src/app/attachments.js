// @ts-check
/**
 * Images attached to a chat message (vision models only).
 *
 * The files are uploaded with the Firebase Storage SDK to the caller's own folder,
 * `uploads/{uid}/<random>.<ext>`, and sent to `generate_text` as `gs://<bucket>/uploads/{uid}/...`:
 * the gateway reads only the caller's own objects, checks each image's type from its bytes and its
 * size (functions/gateway/vision.py), and never fetches a URL. The limits below are the gateway's,
 * checked here first so a wrong file is refused before anything is uploaded.
 */

import { h } from "./dom.js";

/** Image types the gateway takes, and the extension each is stored under. */
export const TYPES = /** @type {Record<string, string>} */ ({ "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif" });
/** Bytes per image (vision.MAX_IMAGE_BYTES). */
export const MAX_BYTES = 5 * 1024 * 1024;
/** Images per message (vision.MAX_IMAGES). */
export const MAX_IMAGES = 8;
/** Bytes of all the images of one message together (vision.MAX_REQUEST_IMAGE_BYTES). */
export const MAX_TOTAL_BYTES = 12 * 1024 * 1024;
export const LIMITS_TEXT = "PNG, JPEG, WebP or GIF; up to 5 MiB each, 12 MiB together, 8 images per message.";

/**
 * The Storage SDK, loaded on the first upload (most chats never attach anything), connected to the
 * Storage emulator when the app's config names one.
 * @param {import("firebase/app").FirebaseApp} app
 * @param {{ host: string, port: number } | null} emulator
 */
export function storageLoader(app, emulator) {
  /** @type {Promise<{ sdk: typeof import("firebase/storage"), storage: import("firebase/storage").FirebaseStorage }> | null} */
  let loading = null;
  return () =>
    (loading ??= import("firebase/storage").then((sdk) => {
      const storage = sdk.getStorage(app);
      if (emulator) sdk.connectStorageEmulator(storage, emulator.host, emulator.port);
      return { sdk, storage };
    }));
}

/** @typedef {ReturnType<typeof storageLoader>} StorageLoader */

/**
 * Why `file` cannot be attached next to `chosen`, or null.
 * @param {File} file
 * @param {File[]} chosen
 */
export function refusal(file, chosen) {
  if (!(file.type in TYPES)) return `${file.name}: not a PNG, JPEG, WebP or GIF image.`;
  if (file.size > MAX_BYTES) return `${file.name}: larger than 5 MiB.`;
  if (chosen.length >= MAX_IMAGES) return `${file.name}: at most ${MAX_IMAGES} images per message.`;
  if (chosen.reduce((sum, f) => sum + f.size, 0) + file.size > MAX_TOTAL_BYTES) return `${file.name}: the images of one message may be 12 MiB together.`;
  return null;
}

/**
 * Upload `files` to `uploads/{uid}/` and answer their `gs://` paths, in order.
 * @param {StorageLoader} load
 * @param {string} uid
 * @param {File[]} files
 * @returns {Promise<string[]>}
 */
export async function upload(load, uid, files) {
  const { sdk, storage } = await load();
  return Promise.all(
    files.map(async (file) => {
      const name = `${crypto.randomUUID()}.${TYPES[file.type]}`;
      const done = await sdk.uploadBytes(sdk.ref(storage, `uploads/${uid}/${name}`), file, { contentType: file.type });
      return `gs://${done.ref.bucket}/${done.ref.fullPath}`;
    }),
  );
}

/** One object URL per file, however often it is drawn (the composer's previews, then the question in the thread). */
const URLS = /** @type {WeakMap<File, string>} */ (new WeakMap());

/** @param {File} file */
function urlOf(file) {
  let url = URLS.get(file);
  if (!url) URLS.set(file, (url = URL.createObjectURL(file)));
  return url;
}

/** Thumbnails of images (object URLs of the files), for a user turn. @param {File[]} files */
export function thumbnails(files) {
  return h(
    "ul",
    { className: "attachments", "aria-label": "Attached images" },
    ...files.map((file) => h("li", {}, h("img", { src: urlOf(file), alt: file.name, className: "thumb" }))),
  );
}

/**
 * The composer's "Attach image" control: a labelled file input, the limits in words, and a preview of
 * each chosen image with its remove button.
 * @param {(message: string | null) => void} complain  shows why a file was refused (null: clears)
 */
export function attachControl(complain) {
  /** @type {File[]} */
  let files = [];
  const hint = h("span", { id: "chat-attach-limits", className: "meta" }, LIMITS_TEXT);
  const input = /** @type {HTMLInputElement} */ (
    h("input", { id: "chat-attach", type: "file", accept: Object.keys(TYPES).join(","), multiple: true, className: "visually-hidden-file", "aria-describedby": "chat-attach-limits" })
  );
  const label = h("label", { htmlFor: "chat-attach", className: "attach-button" }, "Attach image");
  const previews = h("ul", { id: "chat-attachments", className: "attachments", "aria-label": "Images to send" });
  const box = h("div", { id: "chat-attach-box", className: "attach" }, h("div", { className: "row" }, input, label, hint), previews);

  function draw() {
    previews.replaceChildren(
      ...files.map((file, i) =>
        h(
          "li",
          {},
          h("img", { src: urlOf(file), alt: file.name, className: "thumb" }),
          h("button", { type: "button", className: "remove", "aria-label": `Remove ${file.name}`, onclick: () => remove(i) }, "×"),
        ),
      ),
    );
  }

  /** @param {number} i */
  function remove(i) {
    files = files.filter((_, n) => n !== i);
    draw();
    input.focus();
  }

  input.addEventListener("change", () => {
    const problems = [];
    for (const file of input.files ?? []) {
      const why = refusal(file, files);
      if (why) problems.push(why);
      else files.push(file);
    }
    input.value = ""; // the same file may be chosen again after a remove
    complain(problems.length ? problems.join(" ") : null);
    draw();
  });

  return {
    box,
    /** The chosen images. */
    get files() {
      return files;
    },
    clear() {
      files = [];
      draw();
    },
    /** Give back images whose message failed, to send again. @param {File[]} again */
    restore(again) {
      files = [...again];
      draw();
    },
    /** Shown for vision models; otherwise hidden and emptied. @param {boolean} on */
    offer(on) {
      box.hidden = !on;
      if (!on) this.clear();
    },
  };
}
