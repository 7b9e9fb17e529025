from django import forms
from django.utils.translation import gettext_lazy as _


class AddressForm(forms.Form):
    email = forms.EmailField(label=_("Your email address"), max_length=254)
    display_name = forms.CharField(label=_("Your name (optional)"), max_length=255, required=False)
