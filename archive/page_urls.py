"""The archive's browsing routes, under a list's /archive/ (HyperKitty's
shapes: months as YYYY/MM, messages and threads by their Message-ID hash)."""

from django.urls import path, register_converter

from archive import download_views, feeds, page_views


class MessageHashConverter:
    """archive.reading.message_id_hash: 32 characters of base32."""

    regex = "[A-Z2-7]{32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class SmallNumberConverter:
    """A number that fits any integer column (a longer one is no page at all)."""

    regex = "[0-9]{1,9}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class YearConverter(SmallNumberConverter):
    regex = "[0-9]{4}"


class MonthConverter(SmallNumberConverter):
    regex = "[0-9]{2}"

    def to_url(self, value: int) -> str:
        return f"{value:02d}"


register_converter(MessageHashConverter, "archive_hash")
register_converter(SmallNumberConverter, "archive_number")
register_converter(YearConverter, "archive_year")
register_converter(MonthConverter, "archive_month")

ARCHIVE = "lists/<str:list_id>/archive/"
MESSAGE = ARCHIVE + "message/<archive_hash:message_id_hash>/"

urlpatterns = [
    path(ARCHIVE, page_views.index_page, name="archive-index"),
    path(ARCHIVE + "<archive_year:year>/<archive_month:month>/", page_views.month_page, name="archive-month"),
    path(ARCHIVE + "thread/<archive_hash:message_id_hash>/", page_views.thread_page, name="archive-thread"),
    path(MESSAGE, page_views.message_page, name="archive-message"),
    path(MESSAGE + "delete/", page_views.delete_page, name="archive-message-delete"),
    path(
        MESSAGE + "attachment/<archive_number:counter>/<str:filename>",
        download_views.attachment,
        name="archive-attachment",
    ),
    path(ARCHIVE + "feed/", feeds.archive_feed, name="archive-feed"),
    path(ARCHIVE + "export.mbox", download_views.export_mbox, name="archive-mbox"),
]
