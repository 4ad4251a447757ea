{{ config(meta={'dagster': {'ref': {'name': 'abc_xyz'}}}) }}
-- abc_xyz: revenue shares add up to 1 and the last cumulative share is 1; revenue adds up to
-- the window's order lines; classes run A, B, C down the revenue ranking; the first B and the
-- first C start at or above their cut-offs and every A starts below the first. A row names a
-- check that failed.
{%- set abc_a = var('abc_cumulative_shares')[0] -%}
{%- set abc_b = var('abc_cumulative_shares')[1] %}
with mart as (
    select
        *,
        cumulative_share - revenue_share as share_before,
        lag(abc_class) over (order by revenue_rank) as previous_class
    from {{ ref('abc_xyz') }}
),

window_lines as (
    select sum(lines.net_amount_base) as revenue_base
    from {{ ref('fct_order_lines') }} as lines
    where not lines.is_cancelled
        and lines.product_id is not null
        and lines.ordered_date between (select max(window_start_date) from mart)
            and (select max(analysis_date) from mart)
)

select 'revenue shares do not add up to 1' as failed_check
from (select sum(revenue_share) as total from mart)
where abs(total - 1) > 1e-9
union all
select 'the last cumulative share is not 1'
from (select arg_max(cumulative_share, revenue_rank) as last_share from mart)
where abs(last_share - 1) > 1e-9
union all
select 'revenue differs from the window''s order lines'
from window_lines
where revenue_base != (select sum(revenue_base) from mart)
union all
select 'class order broken at rank ' || revenue_rank
from mart
where previous_class > abc_class
union all
select 'an A product starts at or above {{ abc_a }} (rank ' || revenue_rank || ')'
from mart
where abc_class = 'A' and share_before >= {{ abc_a }} + 1e-9
union all
select 'a B product starts below {{ abc_a }} or at/above {{ abc_b }} (rank ' || revenue_rank || ')'
from mart
where abc_class = 'B' and (share_before < {{ abc_a }} - 1e-9 or share_before >= {{ abc_b }} + 1e-9)
union all
select 'a C product starts below {{ abc_b }} (rank ' || revenue_rank || ')'
from mart
where abc_class = 'C' and share_before < {{ abc_b }} - 1e-9
