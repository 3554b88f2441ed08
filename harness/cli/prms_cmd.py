"""``prm-harness prms list``: the shipped PRM specs and the protocol families."""

from __future__ import annotations

import json

import click


@click.group("prms")
def prms() -> None:
    """PRM specs and protocol families."""


@prms.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of tables.")
def list_prms(as_json: bool) -> None:
    """Show the protocol families and every shipped spec (model id, family, mapping)."""
    from harness import registry
    from harness.models.prms.specs import shipped_specs

    families = {name: registry.FAMILIES.get(name).summary for name in registry.names("family")}
    specs = shipped_specs()
    if as_json:
        click.echo(json.dumps({
            "families": families,
            "specs": {mid: {"family": s.family, "to_unit": s.to_unit,
                            "recommended_aggregation": s.recommended_aggregation,
                            "protocol": s.protocol}
                      for mid, s in sorted(specs.items())}}, indent=2))
        return
    click.echo("Protocol families:")
    width = max(len(name) for name in families)
    for name, text in families.items():
        click.echo(f"  {name:<{width}}  {text}")
    click.echo("\nShipped specs (use the model id with --prm; add --model PATH for a local "
               "copy):")
    id_width = max(len(mid) for mid in specs)
    for mid, s in sorted(specs.items()):
        agg = s.recommended_aggregation or "-"
        click.echo(f"  {mid:<{id_width}}  {s.family:<20}  to_unit={s.to_unit:<10}  "
                   f"aggregation={agg}")
    click.echo(f"\nBaselines: {', '.join(registry.names('baseline'))}")
