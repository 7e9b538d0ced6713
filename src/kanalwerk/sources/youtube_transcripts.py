"""Video transcripts through youtube-transcript-api, the optional `youtube` extra.

The only module that imports the library; its errors become `TranscriptUnavailable`
with a reason a user can read, and `blocked` set when YouTube refuses the client as a
whole (so the caller stops asking for the rest of the run).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from kanalwerk.errors import TranscriptUnavailable
from kanalwerk.sources.cues import Cue

if TYPE_CHECKING:  # requests comes with the extra: imported only where a session is made
    import requests

#: Seconds for each of YouTube's requests; the library sets no timeout of its own.
TIMEOUT = 20.0

#: Why to install the extra, for the log and `kanalwerk items`.
NOT_INSTALLED = "video transcripts need the youtube extra: pip install 'kanalwerk[youtube]'"


def installed() -> bool:
    """Whether the `youtube` extra (youtube-transcript-api) is installed."""
    return importlib.util.find_spec("youtube_transcript_api") is not None


def session() -> requests.Session:
    """A requests session with a timeout on every request, so a stalled answer cannot
    hang the cycle."""
    import requests
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = TIMEOUT
            return super().send(request, **kwargs)

    client = requests.Session()
    client.mount("https://", TimeoutAdapter())
    client.mount("http://", TimeoutAdapter())
    return client


class VideoTranscripts:
    """Fetches the transcript of one video at a time; not thread-safe (one session)."""

    def __init__(self, http_client: requests.Session | None = None) -> None:
        from youtube_transcript_api import YouTubeTranscriptApi

        self._api = YouTubeTranscriptApi(http_client=http_client or session())

    def cues(self, video_id: str, language: str) -> list[Cue]:
        """The transcript in `language`: made by hand if there is one, else generated."""
        import requests
        import youtube_transcript_api as yta

        try:
            listing = self._api.list(video_id)
            transcript = _choose(listing, language)
            if transcript is None:
                found = sorted({t.language_code for t in listing})
                available = ", ".join(found) if found else "none"
                raise TranscriptUnavailable(
                    f"no transcript in the video's language ({language}; available: {available})"
                )
            fetched = transcript.fetch()
        except yta.RequestBlocked as exc:  # IpBlocked too; the library's 429 is IpBlocked
            raise TranscriptUnavailable(
                "YouTube refuses transcript requests from this address (blocked or too many "
                "requests); not asked again this run",
                blocked=True,
            ) from exc
        except yta.TranscriptsDisabled as exc:
            raise TranscriptUnavailable("transcripts are disabled for this video") from exc
        except yta.NoTranscriptFound as exc:
            raise TranscriptUnavailable(f"no transcript in {language}") from exc
        except (yta.VideoUnavailable, yta.VideoUnplayable, yta.AgeRestricted) as exc:
            raise TranscriptUnavailable(f"the video cannot be played: {_first_line(exc)}") from exc
        except yta.CouldNotRetrieveTranscript as exc:
            raise TranscriptUnavailable(f"transcript not retrieved: {_first_line(exc)}") from exc
        except requests.RequestException as exc:
            raise TranscriptUnavailable(f"YouTube could not be reached: {exc}") from exc
        cues = [Cue(s.start, s.start + s.duration, s.text) for s in fetched]
        if not cues:
            raise TranscriptUnavailable("the transcript is empty")
        return cues


def _choose(listing: Any, language: str) -> Any:
    """The hand-made transcript in `language` (any region), else the generated one."""
    wanted = language.split("-", 1)[0].lower()
    matching = [t for t in listing if t.language_code.split("-", 1)[0].lower() == wanted]
    manual = [t for t in matching if not t.is_generated]
    return (manual or matching or [None])[0]


def _first_line(exc: BaseException) -> str:
    """The library's cause, without its advice paragraphs and bug-report link."""
    cause = getattr(exc, "cause", "")
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
