"""The one wrapper of tantivy: a BM25 index of chunks (body + title fields, English stemming and
stop words). The indexer writes it; readers open it and reload when the catalog generation moves.

A change is staged (``replace_documents``/``replace_all`` with ``commit=False``), invisible to
readers, then made visible and durable at once by ``commit`` (tantivy fsyncs its files and its
``meta.json``; the directory is fsynced here too); ``rollback`` drops what was staged."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy

from core.files import fsync_dir

LEXICAL_DIR = "lexical"
# What the indexer puts in the fields (``retrieval.indexer.lexical_doc``), stamped beside the index:
# 1 (no stamp): title = file name and heading; 2: title = the document's label only.
LEXICAL_FORMAT = 2
FORMAT_FILE = "askdocs-format"
ANALYZER = "askdocs_en"
_WORD = re.compile(r"\w+", re.UNICODE)
WRITER_HEAP = 64_000_000


@dataclass(frozen=True)
class LexicalDoc:
    chunk_id: int
    document_id: str
    body: str
    title: str


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("chunk_id", indexed=True, fast=True)
    sb.add_text_field("document_id", tokenizer_name="raw")
    sb.add_text_field("body", tokenizer_name=ANALYZER)
    sb.add_text_field("title", tokenizer_name=ANALYZER)
    return sb.build()


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def query_terms(text: str) -> str:
    """Plain words only: user text never reaches tantivy's query syntax (no AND/OR/field:...)."""
    return " ".join(w.lower() for w in _WORD.findall(text))


class LexicalIndex:
    """Open (or create) the index under ``directory``; ``writable`` only in the indexer."""

    def __init__(self, directory: Path, writable: bool = False) -> None:
        self._path = directory / LEXICAL_DIR
        self._schema = _schema()
        self._analyzer = _analyzer()
        self._index: tantivy.Index | None = None
        self._writer = None
        self._restamp = False  # replace_all staged: stamp the format at its commit
        if writable:
            self._path.mkdir(parents=True, exist_ok=True)
            new = not self._exists()
            self._open()
            assert self._index is not None
            self._writer = self._index.writer(WRITER_HEAP, 1)
            if new:
                self.stamp()
        elif self._exists():
            self._open()

    @staticmethod
    def format_of(directory: Path) -> int | None:
        """The format the index under ``directory`` was written in; None when there is none."""
        path = directory / LEXICAL_DIR
        if not path.is_dir():
            return None
        try:
            return int((path / FORMAT_FILE).read_text().strip())
        except (FileNotFoundError, ValueError):
            return 1

    def stamp(self) -> None:
        """Record that the content is of ``LEXICAL_FORMAT`` (a new index, or after replace_all)."""
        tmp = self._path / f"{FORMAT_FILE}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{LEXICAL_FORMAT}\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._path / FORMAT_FILE)
        fsync_dir(self._path)

    def _exists(self) -> bool:
        # tantivy raises, rather than answering False, for a directory that is not there
        return self._path.is_dir() and tantivy.Index.exists(str(self._path))

    def _open(self) -> None:
        self._index = tantivy.Index(self._schema, path=str(self._path), reuse=True)
        self._index.register_tokenizer(ANALYZER, _analyzer())
        # tantivy's default reader follows every commit by itself; readers here move only when
        # told (``reload``), so the API's lexical side stays at the generation it loaded
        self._index.config_reader("Manual", 0)

    def reload(self) -> None:
        """See the latest commit (readers; the indexer commits)."""
        if self._index is None:
            if not self._exists():
                return
            self._open()
        assert self._index is not None
        self._index.reload()

    @property
    def size(self) -> int:
        self.reload()
        return int(self._index.searcher().num_docs) if self._index is not None else 0

    def chunk_ids(self) -> list[int]:
        """Every chunk id in the index (for consistency checks, not for queries)."""
        self.reload()
        if self._index is None:
            return []
        searcher = self._index.searcher()
        n = int(searcher.num_docs)
        if n == 0:
            return []
        hits = searcher.search(tantivy.Query.all_query(), n).hits
        return [int(i) for i in searcher.fast_field_values("chunk_id", [a for _, a in hits])]

    def replace_document(self, document_id: str, docs: Sequence[LexicalDoc]) -> None:
        """Remove a document's chunks and add ``docs`` in one commit (safe to repeat)."""
        self.replace_documents({document_id: docs})

    def replace_documents(
        self,
        docs: dict[str, Sequence[LexicalDoc]],
        removed: Sequence[str] = (),
        commit: bool = True,
    ) -> None:
        """Replace the chunks of many documents, and remove ``removed``, in one commit (with
        ``commit=False``: staged for the next ``commit``)."""
        assert self._writer is not None, "read-only lexical index"
        for document_id in [*docs, *removed]:
            self._writer.delete_documents_by_term("document_id", document_id)
        for chunks in docs.values():
            for d in chunks:
                self._writer.add_document(self._doc(d))
        if commit:
            self.commit()

    def commit(self) -> None:
        """Make what was staged visible to readers that reload, and durable."""
        assert self._writer is not None, "read-only lexical index"
        self._writer.commit()
        fsync_dir(self._path)
        if self._restamp:
            self.stamp()
            self._restamp = False

    def rollback(self) -> None:
        """Drop what was staged since the last commit."""
        assert self._writer is not None, "read-only lexical index"
        self._writer.rollback()
        self._restamp = False

    @staticmethod
    def _doc(d: LexicalDoc) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_unsigned("chunk_id", d.chunk_id)
        doc.add_text("document_id", d.document_id)
        doc.add_text("body", d.body)
        doc.add_text("title", d.title)
        return doc

    def replace_all(self, docs: Sequence[LexicalDoc], commit: bool = True) -> None:
        """Swap the whole content in one commit: readers see the old or the new, never empty
        (with ``commit=False``: staged for the next ``commit``)."""
        assert self._writer is not None, "read-only lexical index"
        self._writer.delete_all_documents()
        for d in docs:
            self._writer.add_document(self._doc(d))
        self._restamp = True
        if commit:
            self.commit()

    def remove_document(self, document_id: str) -> None:
        self.replace_document(document_id, [])

    def search(
        self,
        text: str,
        k: int,
        title_boost: float = 0.0,
        document_ids: Sequence[str] | None = None,
        common_df: float = 1.0,
    ) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, BM25 score); ``document_ids`` restricts inside the search.

        ``common_df``: query terms found in more than this share of the chunks are *common*
        (Lucene's common-terms query): they add to the score of chunks that match a rarer query
        term, but do not make a chunk a candidate on their own. Every chunk found keeps the score
        the plain query gives it, and far fewer postings are walked: tantivy-py collects through a MultiCollector, which scores every posting of every
        term (no block-max WAND), and a common term's list holds most of the collection. When all
        terms are common, or the rare ones match fewer than ``k`` chunks, the plain query runs.
        """
        if self._index is None:
            return []
        tokens = self._tokens(text)
        if not tokens:
            return []
        searcher = self._index.searcher()
        limit = common_df * searcher.num_docs
        df = {t: searcher.doc_freq("body", t) for t in tokens}
        rare = [t for t in tokens if df[t] <= limit]
        common = [t for t in tokens if df[t] > limit]
        only = (
            tantivy.Query.term_set_query(self._schema, "document_id", list(document_ids))
            if document_ids is not None
            else None
        )
        hits = []
        if rare and common:
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, self._any_of(rare, title_boost))]
                + [(tantivy.Occur.Should, self._term(t, title_boost)) for t in common]
            )
            hits = searcher.search(self._within(query, only), k, count=False).hits
        if len(hits) < k:
            query = self._any_of(tokens, title_boost)
            hits = searcher.search(self._within(query, only), k, count=False).hits
        if not hits:
            return []
        ids = searcher.fast_field_values("chunk_id", [addr for _, addr in hits])
        return [(int(i), float(score)) for (score, _), i in zip(hits, ids, strict=True)]

    @property
    def searched(self) -> int:
        """The chunks searches see now (``size`` first reloads to the latest commit)."""
        return int(self._index.searcher().num_docs) if self._index is not None else 0

    def has_word(self, word: str) -> bool:
        """Whether any chunk's text or title has ``word`` (as analysed: stemmed, so "patents"
        finds "patent"); True for a stop word, and while there is no index to ask."""
        if self._index is None:
            return True
        searcher = self._index.searcher()
        return all(
            searcher.doc_freq("body", t) > 0 or searcher.doc_freq("title", t) > 0
            for t in self._tokens(word)
        )

    def _tokens(self, text: str) -> list[str]:
        """The analysed terms of ``text`` (stemmed, no stop words), each once, in order (as
        tantivy's query parser has them: a word asked twice weighs once)."""
        return list(dict.fromkeys(self._analyzer.analyze(query_terms(text))))

    def _term(self, token: str, title_boost: float) -> tantivy.Query:
        body = tantivy.Query.term_query(self._schema, "body", token, "freq")
        if title_boost <= 0:
            return body
        title = tantivy.Query.term_query(self._schema, "title", token, "freq")
        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, body),
                (tantivy.Occur.Should, tantivy.Query.boost_query(title, title_boost)),
            ]
        )

    def _any_of(self, tokens: list[str], title_boost: float) -> tantivy.Query:
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, self._term(t, title_boost)) for t in tokens]
        )

    @staticmethod
    def _within(query: tantivy.Query, only: tantivy.Query | None) -> tantivy.Query:
        if only is None:
            return query
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, query), (tantivy.Occur.Must, only)]
        )
