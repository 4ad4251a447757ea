{# Incremental models re-merge rows whose source changed within the lookback window before
   the newest change already loaded (late updates), and, when CHANNELHOUSE_REBUILD_SINCE is given (macros/run_settings.sql), every
   row changed since that date. `{{ this }}` must have a source_updated_at column. #}
{% macro changed_recently(updated_column) -%}
    (
        {{ updated_column }} >= (
            select coalesce(max(loaded.source_updated_at), timestamptz '1900-01-01')
                - to_days({{ var('lookback_days') | int }})
            from {{ this }} as loaded
        )
        {%- if run_setting('rebuild_since') %}
        or {{ updated_column }} >= cast('{{ run_setting("rebuild_since") }}' as date)
        {%- endif %}
    )
{%- endmacro %}

{#
  The `selected` CTE of an incremental fact: the rows of CTE `rows` whose source changed
  recently, plus every row of the customers those touch (their first-order flag may move);
  everything on a full build. Needs a CTE `identities` (order_id, customer_id).
#}
{% macro changed_rows_and_their_customers(rows) -%}
{% if is_incremental() %}
changed_customers as (
    select distinct identities.customer_id
    from {{ rows }}
    inner join identities on {{ rows }}.order_id = identities.order_id
    where {{ changed_recently(rows ~ '.source_updated_at') }}
),

selected as (
    select {{ rows }}.*
    from {{ rows }}
    left join identities on {{ rows }}.order_id = identities.order_id
    where {{ changed_recently(rows ~ '.source_updated_at') }}
        or identities.customer_id in (select customer_id from changed_customers)
),
{% else %}
selected as (
    select * from {{ rows }}
),
{% endif %}
{%- endmacro %}
