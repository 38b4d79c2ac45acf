// UI texts in English and Russian, chosen from the script tag's data-lang,
// then the page's <html lang>, then the widget's configured language, then
// the browser's language; English when none of them is supported.

export type Texts = {
  open: string;
  close: string;
  title: string;
  placeholder: string;
  send: string;
  typing: string;
  offline: string;
  error: string;
  file: string;
  image: string;
  you: string;
  attach: string;
};

export const TEXTS: Record<"en" | "ru", Texts> = {
  en: {
    open: "Open chat",
    close: "Close chat",
    title: "Chat",
    placeholder: "Write a message…",
    send: "Send",
    typing: "typing…",
    offline: "Reconnecting…",
    error: "Could not send. Try again.",
    file: "File",
    image: "Image",
    you: "You",
    attach: "Attach a file",
  },
  ru: {
    open: "Открыть чат",
    close: "Закрыть чат",
    title: "Чат",
    placeholder: "Напишите сообщение…",
    send: "Отправить",
    typing: "печатает…",
    offline: "Переподключение…",
    error: "Не удалось отправить. Попробуйте ещё раз.",
    file: "Файл",
    image: "Изображение",
    you: "Вы",
    attach: "Прикрепить файл",
  },
};

export type Lang = keyof typeof TEXTS;

/** The first supported language among the candidates ("ru-RU" → "ru"), else "en". */
export function pickLang(...candidates: Array<string | null | undefined>): Lang {
  for (const c of candidates) {
    const primary = (c || "").trim().toLowerCase().split(/[-_]/)[0];
    if (primary === "ru" || primary === "en") return primary;
  }
  return "en";
}

/** The language's texts with the operator's overrides (config.texts) for known keys only. */
export function textsFor(lang: Lang, overrides?: Record<string, unknown>): Texts {
  const t: Texts = { ...TEXTS[lang] };
  if (overrides)
    for (const k of Object.keys(t) as Array<keyof Texts>) {
      const v = overrides[k];
      if (typeof v === "string" && v) t[k] = v;
    }
  return t;
}
