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
