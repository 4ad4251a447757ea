{#
  What changes from one run to the next — the run's day, a rebuild date, the reconciliation
  window — comes from environment variables, not from `--vars`: dbt re-parses the whole project
  whenever `--vars` differ from the last parse, while an environment variable read only while
  dbt executes (never at parse time) leaves the partial parse valid. Dagster sets them
  (run_environment in orchestration/defs/warehouse/dbt.py); unset or empty = none.
    CHANNELHOUSE_TODAY            the run's UTC date (none: the database's current_date)
    CHANNELHOUSE_REBUILD_SINCE    a date: incremental models also re-merge updates since it
    CHANNELHOUSE_RECONCILE_DAYS   reconcile only the last N days with the lake (none: all history)
#}
{% macro run_setting(name) -%}
    {%- if execute -%}
        {{ return(env_var('CHANNELHOUSE_' ~ (name | upper), '') or none) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
