// Shared pieces: the html tag, polling, notices, dialogs.
import { h } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import htm from 'htm'

export const html = htm.bind(h)

/** Polling period of what is on screen (paused while the tab is hidden). */
export const POLL_MS = 2000

/**
 * Loads `load()` now and every `every` ms while the page is visible; a request still in flight is
 * not doubled. Returns `{ data, error, reload }`; data stays on screen while it refreshes.
 */
export function usePoll (load, deps, every = POLL_MS) {
  const [state, setState] = useState({ data: undefined, error: null })
  const seq = useRef(0)
  const busy = useRef(false)
  const stopped = useRef(false)
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const reload = useCallback(async () => {
    if (stopped.current) return
    const mine = ++seq.current
    busy.current = true
    try {
      const data = await load()
      if (mine === seq.current) setState({ data, error: null })
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error }))
    } finally {
      if (mine === seq.current) busy.current = false
    }
  }, deps)
  useEffect(() => {
    void reload()
    const timer = setInterval(() => { if (!document.hidden && !busy.current) void reload() }, every)
    const onVisible = () => { if (!document.hidden) void reload() }
    document.addEventListener('visibilitychange', onVisible)
    return () => { clearInterval(timer); document.removeEventListener('visibilitychange', onVisible); seq.current++ }
  }, [reload])
  // stop() halts polling (before deleting what is polled) and ignores answers on the way; stop(false) resumes.
  const stop = useCallback((on = true) => { stopped.current = on; seq.current++; busy.current = false }, [])
  return { ...state, reload, stop }
}

// Notices: one live region for the whole page.
const listeners = new Set()
let nextNotice = 1
export function notify (text, kind = 'info') {
  const notice = { id: nextNotice++, text, kind }
  for (const l of listeners) l(notice)
}

export function Notices () {
  const [items, setItems] = useState([])
  useEffect(() => {
    const add = (n) => {
      setItems((list) => [...list.slice(-3), n])
      setTimeout(() => setItems((list) => list.filter((x) => x.id !== n.id)), n.kind === 'error' ? 10_000 : 4000)
    }
    listeners.add(add)
    return () => listeners.delete(add)
  }, [])
  return html`<div class="notices" role="status" aria-live="polite">
    ${items.map((n) => html`<p key=${n.id} class=${`notice ${n.kind}`}>${n.text}</p>`)}
  </div>`
}

/** A modal <dialog>: Escape and the Cancel button close it; focus is trapped by the browser. */
export function Dialog ({ open, title, onClose, children }) {
  const ref = useRef(null)
  useEffect(() => {
    const dialog = ref.current
    if (dialog === null) return
    if (open && !dialog.open) dialog.showModal()
    if (!open && dialog.open) dialog.close()
  }, [open])
  return html`<dialog ref=${ref} aria-labelledby="dialog-title" onClose=${onClose} onCancel=${onClose}>
    ${open ? html`<h2 id="dialog-title">${title}</h2>${children}` : null}
  </dialog>`
}

// After a change of view, the first view heading to appear takes the focus, so keyboard and
// screen-reader users land on it (loading placeholders do not take it).
let focusPending = false
export function focusNextTitle () { focusPending = true }

export function Title ({ id, children }) {
  const ref = useRef(null)
  useEffect(() => {
    if (focusPending && ref.current !== null) { focusPending = false; ref.current.focus() }
  }, [])
  return html`<h1 id=${id} tabindex="-1" ref=${ref}>${children}</h1>`
}

export function useHash () {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const on = () => setHash(location.hash)
    window.addEventListener('hashchange', on)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  return hash
}

/** A timestamp that moves every second, for relative times ("in 5 seconds"). */
export function useNow (every = 1000) {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), every)
    return () => clearInterval(t)
  }, [every])
  return now
}
