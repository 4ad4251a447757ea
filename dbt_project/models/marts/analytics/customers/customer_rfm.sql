-- RFM per unified customer (fct_orders.customer_id) as of analysis_date(): recency,
-- frequency (distinct order days) and monetary value (net revenue, base currency) of the
-- orders that were not cancelled and name a customer, placed on or before the analysis date.
-- Scores are rank-based quintiles (ties score alike), the segment comes from R and the FM
-- score; the rules are in macros/customer_analytics.sql and the yml.
with orders as (
    {{ customer_orders() }}
),

per_customer as (
    select
        customer_id,
        min(ordered_date) as first_order_date,
        max(ordered_date) as last_order_date,
        count(*) as order_count,
        count(distinct ordered_date) as frequency,
        {{ money('sum(net_amount_base)') }} as monetary_base,
        array_to_string(list_sort(list_distinct(list(channel))), ',') as channels,
        count(distinct channel) as channel_count
    from orders
    group by customer_id
),

scored as (
    select
        *,
        {{ analysis_date() }} as analysis_date,
        {{ rfm_quintile_score('last_order_date') }} as r_score,
        {{ rfm_quintile_score('frequency') }} as f_score,
        {{ rfm_quintile_score('monetary_base') }} as m_score
    from per_customer
),

segmented as (
    select
        *,
        {{ rfm_fm_score('f_score', 'm_score') }} as fm_score
    from scored
)

select
    customer_id,
    analysis_date,
    first_order_date,
    last_order_date,
    cast(analysis_date - last_order_date as integer) as recency_days,
    cast(frequency as bigint) as frequency,
    cast(order_count as bigint) as order_count,
    monetary_base,
    channels,
    cast(channel_count as integer) as channel_count,
    r_score,
    f_score,
    m_score,
    cast(r_score as varchar) || cast(f_score as varchar) || cast(m_score as varchar) as rfm_cell,
    fm_score,
    {{ rfm_segment('r_score', 'fm_score') }} as rfm_segment
from segmented
