"""Print the README's settings table from the Settings model: `python scripts/settings_table.py`."""

from askdocs.settings import Settings

print("| variable | default | meaning |")
print("| --- | --- | --- |")
for name, field in Settings.model_fields.items():
    default = "" if field.default is None else field.default
    print(f"| `ASKDOCS_{name.upper()}` | `{default}` | {field.description} |")
