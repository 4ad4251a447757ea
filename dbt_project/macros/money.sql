{# An amount in the order currency converted with a rate to the base currency, kept exact to
   4 decimal places like every money column. #}
{% macro to_base(amount, rate) -%}
    cast(round({{ amount }} * {{ rate }}, 4) as decimal(18, 4))
{%- endmacro %}

{# A timestamp's calendar date in the reporting time zone (channelhouse.yml). #}
{% macro local_date(ts) -%}
    cast(timezone('{{ var("reporting_timezone") }}', {{ ts }}) as date)
{%- endmacro %}

{# Money columns are DECIMAL(18,4) everywhere (the lake's type); sums are cast back to it. #}
{% macro money(expr) -%}
    cast({{ expr }} as decimal(18, 4))
{%- endmacro %}

{# The last day dim_fx_rates covers (at least): today, so today's orders find a rate. A macro
   so that unit tests can pin it. #}
{% macro fx_calendar_end() -%}
    current_date
{%- endmacro %}
