{#
  The "as of" day of the analytics marts (RFM recency, cohort ages, ABC/XYZ windows,
  inventory cover): the dbt var `analysis_date` (channelhouse.yml analytics.analysis_date),
  else the latest local order day in the warehouse.
#}
{% macro analysis_date() -%}
    {%- if var('analysis_date', none) -%}
        date '{{ var("analysis_date") }}'
    {%- else -%}
        (select max(ordered_date) from {{ ref('fct_orders') }})
    {%- endif -%}
{%- endmacro %}

{# channelhouse.yml settings (dbt vars) as SQL rows, so no number of the config is written into a
   model. #}
{# A Python/YAML value as a SQL literal: NULL, true/false, a number or a quoted string. #}
{% macro sql_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true -%}
        true
    {%- elif value is sameas false -%}
        false
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{#
  A dict-of-dicts dbt var (e.g. marketplace_fees: {shopify: {percent_of_revenue: 0.029, ...}})
  as a relation with one row per key: `key_column` holds the key, then one column per
  [name, SQL type] pair of `fields` (NULL where the entry does not set it). An empty or
  missing dict gives the same columns and no rows.
#}
{% macro config_relation(config, key_column, fields) -%}
    {%- set entries = config or {} -%}
    {%- if entries | length == 0 -%}
    select cast(null as varchar) as {{ key_column }}
        {%- for field in fields %}, cast(null as {{ field[1] }}) as {{ field[0] }}{% endfor %}
    where false
    {%- else -%}
    select
        cast({{ key_column }} as varchar) as {{ key_column }}
        {%- for field in fields %},
        cast({{ field[0] }} as {{ field[1] }}) as {{ field[0] }}
        {%- endfor %}
    from (values
        {%- for key in entries.keys() | sort %}
        ({{ sql_literal(key) }}
            {%- for field in fields %}, {{ sql_literal((entries[key] or {}).get(field[0])) }}{% endfor -%}
        ){{ "," if not loop.last }}
        {%- endfor %}
    ) as config({{ key_column }}{% for field in fields %}, {{ field[0] }}{% endfor %})
    {%- endif -%}
{%- endmacro %}
