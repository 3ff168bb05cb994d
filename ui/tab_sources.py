"""The Sources tab: folders, websites and git repositories a collection syncs from."""

from __future__ import annotations

import streamlit as st

from client.http import ApiClient, ApiError
from ui.safe import md_escape

RUN_COUNTS = ("listed", "new", "changed", "unchanged", "renamed", "deleted", "failed", "held")
KIND_HELP = {
    "folder": ("Folder on the server", "/srv/share/handbook"),
    "web": ("Start URL or sitemap (.xml)", "https://intranet.example.com/docs/"),
    "git": ("Repository URL or path on the server", "https://git.example.com/team/docs.git"),
}


def _lines(text: str) -> list[str]:
    return [t.strip() for t in text.replace(",", "\n").splitlines() if t.strip()]


def source_form(api: ApiClient, collection: str) -> None:
    with st.expander("Add a source", expanded=False):
        kind = st.selectbox("Kind", list(KIND_HELP), key="src_kind")
        label, example = KIND_HELP[kind]
        with st.form("add_source", clear_on_submit=False):
            where = st.text_input(label, placeholder=example)
            name = st.text_input("Source name", placeholder="shown in the list")
            schedule = st.text_input(
                "Schedule", placeholder="every 1h, 30m, or cron '0 3 * * *'; empty: by hand"
            )
            include = st.text_input("Include (globs)", placeholder="*.md, docs/*")
            exclude = st.text_input("Exclude (globs)", placeholder="drafts/*")
            branch = st.text_input("Branch (git)", value="main")
            max_pages = st.number_input("Most pages (web)", 1, 100_000, 500)
            max_depth = st.number_input("Link depth (web)", 0, 20, 2)
            token = st.text_input("Token (private site or repository)", type="password")
            submitted = st.form_submit_button("Add and sync")
            if submitted and not where.strip():
                st.error(f"Nothing added: fill in “{label}” first.")
            elif submitted:
                config: dict = {"include": _lines(include), "exclude": _lines(exclude)}
                if kind == "folder":
                    config["path"] = where.strip()
                elif kind == "web":
                    config.update(url=where.strip(), max_pages=max_pages, max_depth=max_depth)
                else:
                    config.update(url=where.strip(), branch=branch.strip() or "main")
                try:
                    api.add_source(
                        {
                            "collection": collection,
                            "name": (name or where).strip()[:128],
                            "kind": kind,
                            "config": config,
                            "schedule": schedule.strip() or None,
                            "token": token or None,
                        }
                    )
                    st.success("Added; the first sync is under way.")
                except ApiError as e:
                    st.error(md_escape(e))


def source_runs(api: ApiClient, src: dict) -> list:
    """The source's last runs: asked for again only while it syncs or when its last run changed
    (the list refreshes every few seconds, in every open tab)."""
    last = src.get("last_run") or {}
    key = (src["running"], last.get("id"), last.get("status"), last.get("finished_at"))
    held = st.session_state.setdefault("_source_runs", {}).get(src["id"])
    if held is not None and held[0] == key and not src["running"]:
        return held[1]
    runs = api.source_runs(src["id"], limit=10)
    st.session_state["_source_runs"][src["id"]] = (key, runs)
    return runs


def source_detail(api: ApiClient, src: dict) -> None:
    cols = st.columns(4)
    if cols[0].button("Sync now", key=f"sync-{src['id']}"):
        try:
            api.sync_source(src["id"])
            st.toast(f"Syncing {md_escape(src['name'])}")
        except ApiError as e:
            st.error(md_escape(e))
    paused = not src["enabled"]
    if cols[1].button("Resume schedule" if paused else "Pause schedule", key=f"en-{src['id']}"):
        try:
            api.update_source(src["id"], {"enabled": paused})
        except ApiError as e:
            st.error(md_escape(e))
    with st.form(f"edit-{src['id']}"):
        schedule = st.text_input("Schedule", value=src.get("schedule") or "")
        cfg = src["config"]
        include = st.text_input("Include (globs)", value=", ".join(cfg.get("include", [])))
        exclude = st.text_input("Exclude (globs)", value=", ".join(cfg.get("exclude", [])))
        if st.form_submit_button("Save"):
            changed = {**cfg, "include": _lines(include), "exclude": _lines(exclude)}
            try:
                api.update_source(src["id"], {"schedule": schedule, "config": changed})
                st.success("Saved")
            except ApiError as e:
                st.error(md_escape(e))
    keep = cols[3].checkbox("keep its documents", key=f"keep-{src['id']}")
    if cols[2].button("Remove", key=f"rm-{src['id']}"):
        try:
            api.remove_source(src["id"], keep_documents=keep)
            st.success(f"Removed {md_escape(src['name'])}")
        except ApiError as e:
            st.error(md_escape(e))
    try:
        runs = source_runs(api, src)
    except ApiError as e:
        st.error(md_escape(e))
        return
    st.dataframe(
        [
            {
                "started": (r.get("started_at") or r["created_at"])[:19].replace("T", " "),
                "trigger": r["trigger"],
                "status": r["status"],
                "s": r.get("duration_s"),
                **{k: r[k] for k in RUN_COUNTS},
                "message": r.get("message") or "",
            }
            for r in runs
        ],
        width="stretch",
        hide_index=True,
    )
    failures = [f for r in runs[:1] for f in r.get("failures", [])]
    for f in failures[:20]:
        st.caption(md_escape(f"❌ {f['origin']}: {f['reason']}"))
    last = runs[0] if runs else None
    if last is not None and last["status"] == "held":
        st.warning(md_escape(last.get("message") or f"{last['held']} deletions held"))
        label = f"Delete the {last['held']} documents it no longer lists"
        if st.button(label, key=f"confirm-{src['id']}"):
            try:
                api.sync_source(src["id"], confirm_deletions=True)
                st.toast(f"Syncing {md_escape(src['name'])}, deletions confirmed")
            except ApiError as e:
                st.error(md_escape(e))


@st.fragment(run_every=3)
def source_list(api: ApiClient, collection: str) -> None:
    try:
        sources = api.sources(collection)
    except ApiError as e:
        st.error(md_escape(e))
        return
    if not sources:
        st.info("No sources yet: add a folder, a website or a git repository above.")
        return
    st.dataframe(
        [
            {
                "name": s["name"],
                "kind": s["kind"],
                "schedule": s.get("schedule") or "by hand",
                "enabled": s["enabled"],
                "documents": s["documents"],
                "state": "syncing"
                if s["running"]
                else ((s.get("last_run") or {}).get("status", "")),
                "last run": ", ".join(
                    f"{k} {(s.get('last_run') or {}).get(k)}"
                    for k in RUN_COUNTS
                    if (s.get("last_run") or {}).get(k)
                ),
                "next run": (s.get("next_run_at") or "")[:19].replace("T", " "),
            }
            for s in sources
        ],
        width="stretch",
        hide_index=True,
    )
    for src in sources:
        with st.expander(md_escape(f"{src['name']} ({src['kind']})")):
            source_detail(api, src)


def sources_tab(api: ApiClient, collection: str) -> None:
    source_form(api, collection)
    source_list(api, collection)
