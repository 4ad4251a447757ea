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
    {{ run_date() }}
{%- endmacro %}

{# Today's UTC date as the run sees it: CHANNELHOUSE_TODAY (Dagster passes its clock's), else
   the database's current_date. #}
{% macro run_date() -%}
    {%- set today = run_setting('today') -%}
    {%- if today -%} date '{{ today }}' {%- else -%} current_date {%- endif -%}
{%- endmacro %}

{# The rate that converts an amount in `currency` to the base currency: 1 for the base currency
   itself (it needs no exchange rate, on any day), else the joined `rate` (NULL when the rates
   do not cover that day: a test fails naming currency and day). #}
{% macro rate_to_base(currency, rate) -%}
    case when {{ currency }} = '{{ var("base_currency") }}' then cast(1 as decimal(18, 10))
        else {{ rate }} end
{%- endmacro %}
