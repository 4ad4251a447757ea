{#
  A compound primary key: every row has all of `columns` (none NULL) and no two rows share
  them. Fails with one row per duplicated or incomplete key.
#}
{% test primary_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
    {%- for column in columns %}
    or {{ column }} is null
    {%- endfor %}
{% endtest %}
