from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lists.models import MailingList


def list_index(request: HttpRequest) -> HttpResponse:
    lists = MailingList.objects.filter(advertised=True).select_related("domain")
    return render(request, "lists/index.html", {"lists": lists})
